"""The runner: checkpoints, resume, reuse, early stop, the results file."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ffrepro.registry import get_experiment
from ffrepro.results import SCHEMA_VERSION
from ffrepro.runner import checkpoint_path, run


def _run(tmp: Path, **kw):
    return run("mnist-ff-hard-negatives", "smoke", 0, device="cpu", results_dir=tmp / "r", checkpoint_dir=tmp / "c", progress=False, **kw)


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path: Path) -> None:
    whole = _run(tmp_path / "a")
    part = _run(tmp_path / "b", stop_after_epochs=1)
    assert part["complete"] is False and part["epochs_done"] == 1
    resumed = _run(tmp_path / "b")
    assert resumed["complete"] is True and resumed["epochs_done"] == 3
    assert resumed["final"] == whole["final"]
    for a, b in zip(resumed["history"], whole["history"]):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    wa = torch.load(checkpoint_path("mnist-ff-hard-negatives", "smoke", 0, tmp_path / "a" / "c"), weights_only=False)
    wb = torch.load(checkpoint_path("mnist-ff-hard-negatives", "smoke", 0, tmp_path / "b" / "c"), weights_only=False)
    for k, v in wa["trainer"]["net"].items():
        assert torch.equal(v, wb["trainer"]["net"][k]), k


def test_same_seed_same_result_and_results_are_reused(tmp_path: Path) -> None:
    first = _run(tmp_path / "a")
    again = _run(tmp_path / "b")
    assert first["final"] == again["final"]
    path = tmp_path / "a" / "r" / "mnist-ff-hard-negatives" / "smoke" / "seed0.json"
    stamp = path.stat().st_mtime_ns
    reused = _run(tmp_path / "a")
    assert path.stat().st_mtime_ns == stamp and reused["final"] == first["final"]


def test_results_file_schema(tmp_path: Path) -> None:
    _run(tmp_path)
    path = tmp_path / "r" / "mnist-ff-hard-negatives" / "smoke" / "seed0.json"
    r = json.loads(path.read_text())
    assert r["schema_version"] == SCHEMA_VERSION
    assert r["config"] == get_experiment("mnist-ff-hard-negatives").config("smoke").to_dict()
    assert set(r["final"]) == {"train", "val", "test"}
    assert set(r["final"]["test"]) == {"goodness", "softmax", "neutral_goodness"}
    assert len(r["history"]) == 3 and r["history"][0]["epoch"] == 1
    prov = r["provenance"]
    for key in ("git_commit", "git_dirty", "packages", "device", "dataset_md5"):
        assert key in prov
    assert prov["dataset_md5"]["t10k-labels-idx1-ubyte"] == "27ae3e4e09519cfbb04c329615203637"
    assert r["wall_time_s"]["train"] > 0
    assert not list(path.parent.glob("*.tmp"))  # atomic write leaves no temporary file


def test_stop_after_zero_evaluates_the_checkpoint_without_training(tmp_path: Path) -> None:
    part = _run(tmp_path, stop_after_epochs=2)
    again = _run(tmp_path, stop_after_epochs=0)
    assert again["epochs_done"] == 2 and again["complete"] is False
    assert again["final"] == part["final"] and again["history"] == part["history"]
