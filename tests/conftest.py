"""Shared fixtures: the real MNIST (fetched once by `make data`), one smoke run of every experiment, and the
smoke-profile site built from it."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from ffrepro import book as book_pages
from ffrepro.data import Dataset, load_mnist
from ffrepro.registry import all_ids
from ffrepro.memory import run_study
from ffrepro.results import REPO_ROOT
from ffrepro.runner import run

BOOK = REPO_ROOT / "book"
NOTEBOOKS = book_pages.sources(BOOK)
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def mnist() -> Dataset:
    return load_mnist("cpu")


SMOKE_WORKERS = 2  # processes for the smoke runs, one thread each: on two cores, small runs go ~1.6x faster than one process on both


def _one_thread() -> None:
    torch.set_num_threads(1)


def _smoke_run(exp_id: str, root: Path) -> None:
    run(exp_id, "smoke", 0, device="cpu", results_dir=root / "results", checkpoint_dir=root / "ckpt", progress=False)


def _smoke_study(root: Path) -> None:
    run_study("smoke", "cpu", progress=False, root=root / "results")


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh smoke run of every registry entry and its variants, and the memory study's, in a
    temporary results folder. The runs are shared out over :data:`SMOKE_WORKERS` processes of one
    thread each (the references' bands cover one and two threads): the memory study and the entries
    first, since they are the longest runs, and the variants fill in behind them."""
    root = tmp_path_factory.mktemp("smoke")
    ids = sorted(all_ids(), key=lambda i: "/" in i)
    with ProcessPoolExecutor(SMOKE_WORKERS, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread) as pool:
        jobs = [pool.submit(_smoke_study, root)] + [pool.submit(_smoke_run, i, root) for i in ids]
        for job in jobs:
            job.result()  # a failed run raises here
    return root / "results"


@pytest.fixture(scope="session")
def built_book(smoke_results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of book/ with every notebook executed by papermill (profile smoke), as ``make notebooks`` does
    (each MyST source converted by :func:`ffrepro.book.ipynb`, on papermill's stdin), then built; shared by
    tests/test_book.py and tests/test_site_browser.py, so the site is built once per session."""
    if not (BOOK / "_extra" / "mathjax" / "tex-mml-chtml.js").exists():
        pytest.fail("offline MathJax missing: run `make book/_extra/mathjax/tex-mml-chtml.js` (make test does)")
    book = tmp_path_factory.mktemp("site") / "book"
    shutil.copytree(BOOK, book, ignore=shutil.ignore_patterns("_build", "executed", "results-read.txt"))
    env = {**os.environ, "FFREPRO_RESULTS": str(smoke_results), "PYTHONPATH": str(REPO_ROOT),
           "FFREPRO_RESULTS_READ": str(book / "_extra" / "downloads" / "results-read.txt")}
    book_pages.write(book)  # _toc.yml and the first page's list of chapters, as make site writes them

    def execute(nb: Path) -> None:
        subprocess.run(
            [str(BIN / "python"), "-m", "papermill", "-", str(book / "executed" / f"{nb.stem}.ipynb"), "-k", "python3",
             "--cwd", str(book / "notebooks"), "-p", "profile", "smoke", "--log-level", "WARNING"],
            input=book_pages.ipynb(nb), text=True, env=env, check=True, timeout=600,
        )

    with ThreadPoolExecutor(SMOKE_WORKERS) as pool:  # two notebooks at a time; each appends its reads to the manifest
        for _ in pool.map(execute, NOTEBOOKS):
            pass
    out = subprocess.run(
        [str(BIN / "jupyter-book"), "build", "-W", "-n", "--keep-going", str(book)],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    return book / "_build" / "html"


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
