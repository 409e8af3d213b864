"""Shared fixtures: the real MNIST (fetched once by `make data`) and one smoke run of every experiment."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ffrepro.data import Dataset, load_mnist
from ffrepro.registry import all_ids
from ffrepro.memory import run_study
from ffrepro.runner import run


@pytest.fixture(scope="session")
def mnist() -> Dataset:
    return load_mnist("cpu")


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh smoke run of every registry entry and its variants, and the memory study's, in a
    temporary results folder."""
    root = tmp_path_factory.mktemp("smoke")
    for exp_id in all_ids():
        run(exp_id, "smoke", 0, device="cpu", results_dir=root / "results", checkpoint_dir=root / "ckpt", progress=False)
    run_study("smoke", "cpu", progress=False, root=root / "results")
    return root / "results"


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
