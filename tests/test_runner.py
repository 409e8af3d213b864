"""The runner: checkpoints, resume, reuse, early stop, the results file."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from ffrepro.registry import get_experiment
from ffrepro.results import SCHEMA_VERSION
from ffrepro.runner import PERTURB_ENV, checkpoint_path, perturb_start, perturbation, run


def _run(tmp: Path, **kw):
    return run("mnist-ff-hard-negatives", "smoke", 0, device="cpu", results_dir=tmp / "r", checkpoint_dir=tmp / "c", progress=False, **kw)


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path: Path) -> None:
    whole = _run(tmp_path / "a")
    part = _run(tmp_path / "b", stop_after_epochs=1)
    assert part["complete"] is False and part["epochs_done"] == 1
    resumed = _run(tmp_path / "b")
    assert resumed["complete"] is True and resumed["epochs_done"] == 3
    assert resumed["final"] == whole["final"]
    # provenance is taken at each start; every start's machine, threads and code stay recorded, with the epochs before it
    assert [s["epochs_before"] for s in resumed["provenance"]["starts"]] == [0, 1] and [s["epochs_before"] for s in whole["provenance"]["starts"]] == [0]
    assert all(s["threads"] == torch.get_num_threads() and s["git_commit"] == whole["provenance"]["git_commit"] for s in resumed["provenance"]["starts"])
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


def test_perturbed_start_nudges_each_weight_by_its_relative_size_and_nothing_else() -> None:
    """The references' stand-in for another machine's rounding: every weight times 1 + size x N(0, 1),
    zeros left zero, the same nudge for the same seed, and the global RNG untouched (so the data
    order and everything drawn later are the unperturbed run's)."""
    torch.manual_seed(0)
    start = nn.Sequential(nn.Linear(300, 200), nn.Linear(200, 10, bias=False))
    nn.init.zeros_(start[0].bias)
    rng = torch.get_rng_state()
    net, again, other = (copy.deepcopy(start) for _ in range(3))
    perturb_start(net, 1e-6, seed=3)
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.equal(net[0].bias, start[0].bias)  # zero stays zero
    rel = (net[0].weight / start[0].weight - 1).double()
    assert 0.8e-6 < rel.std().item() < 1.2e-6 and rel.abs().max().item() < 1e-5
    perturb_start(again, 1e-6, seed=3)
    assert torch.equal(again[0].weight, net[0].weight)
    perturb_start(other, 1e-6, seed=4)
    assert not torch.equal(other[0].weight, net[0].weight)


@pytest.mark.parametrize("value, words", [("abc", "is not a number"), ("0.5", "outside [0, 0.01)"), ("-1e-6", "outside")])
def test_a_bad_perturbation_setting_is_named_with_its_fix(value: str, words: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PERTURB_ENV, value)
    with pytest.raises(ValueError, match=PERTURB_ENV) as info:
        perturbation()
    assert words in str(info.value) and "1e-6" in str(info.value)


def test_a_perturbed_run_says_so_in_its_provenance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = _run(tmp_path / "a")
    monkeypatch.setenv(PERTURB_ENV, "1e-6")
    nudged = _run(tmp_path / "b")
    assert nudged["provenance"]["perturbed_start"] == 1e-6 and "perturbed_start" not in plain["provenance"]
    assert nudged["history"][-1]["ff_loss"] != plain["history"][-1]["ff_loss"]  # another trajectory
