"""The tolerance check cannot be talked round: planted results (a copy of the committed results with
one number changed) must fail it, through the library and through `python -m ffrepro check`."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ffrepro.experiments.base import KnownGap
from ffrepro.registry import get_experiment
from ffrepro.report import check_all, check_one
from ffrepro.results import REPO_ROOT

COMMITTED = REPO_ROOT / "results"


@pytest.fixture(scope="module")
def committed_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed results of the entries the plants touch, copied once (cpu and paper)."""
    root = tmp_path_factory.mktemp("committed") / "results"
    for exp_id in ("mnist-ff-supervised", "mnist-ff-supervised-fast", "mnist-ff-hard-negatives", "mnist-ff-unsupervised", "mnist-ff-jitter", "mnist-bp-jitter"):
        for profile in ("cpu", "paper"):
            shutil.copytree(COMMITTED / exp_id / profile, root / exp_id / profile)
    return root


def _plant(root: Path, tmp_path: Path, exp_id: str, profile: str, value: float, metric: str = "test.goodness", seeds: tuple[int, ...] = (0, 1, 2),
           complete: bool | None = None) -> Path:
    """A copy of ``root`` with ``metric`` of the named seeds set to ``value`` (and ``complete`` forced where given)."""
    planted = tmp_path / "results"
    shutil.copytree(root, planted)
    split, mode = metric.split(".")
    for seed in seeds:
        path = planted / exp_id / profile / f"seed{seed}.json"
        result = json.loads(path.read_text())
        result["final"][split][mode] = value
        if complete is not None:
            result["complete"] = complete
        path.write_text(json.dumps(result))
    return planted


def _status(root: Path, exp_id: str, profile: str = "paper") -> str:
    check = check_one(get_experiment(exp_id), profile, root)
    assert check is not None
    return check.status


def test_the_committed_copy_passes_as_it_is(committed_copy: Path) -> None:
    statuses = {(c.name, c.profile): c.status for c in check_all(("cpu", "paper"), committed_copy)}
    assert "FAIL" not in statuses.values(), statuses


# (entry, profile, planted value, what the seeds' files say about completion): every one must FAIL.
PLANTS = [
    ("mnist-ff-supervised", "paper", 30.0, None),  # partial (59 of 60 epochs): 30 % is far beyond the cpu run's 1.75 + 1.0
    ("mnist-ff-supervised-fast", "paper", 30.0, None),  # a known gap (bound 0.45) cannot hide 30 %
    ("mnist-ff-supervised-fast", "paper", 1.95, None),  # nor a miss just beyond its bound (0.49 points)
    ("mnist-ff-hard-negatives", "paper", 2.0, None),  # complete, 0.64 from the paper's 1.36 (tolerance 0.3)
    ("mnist-ff-hard-negatives", "paper", 1.0, None),  # too good is out of tolerance as well (0.36 below)
    ("mnist-ff-unsupervised", "paper", 90.0, None),  # a partial run at chance
    ("mnist-ff-jitter", "paper", 4.0, None),  # partial with a known gap (bound 3.0): 3.36 from the paper
    ("mnist-bp-jitter", "paper", 90.0, None),  # no paper number, partial at chance: held to its cpu run
    ("mnist-ff-hard-negatives", "cpu", 3.5, None),  # the cpu profile's tolerance (1.0) holds too
    ("mnist-ff-hard-negatives", "paper", math.nan, None),  # a number that is not one
]


@pytest.mark.parametrize("exp_id,profile,value,complete", PLANTS)
def test_a_planted_result_fails(committed_copy: Path, tmp_path: Path, exp_id: str, profile: str, value: float, complete: bool | None) -> None:
    metric = get_experiment(exp_id).metric
    planted = _plant(committed_copy, tmp_path, exp_id, profile, value, metric, complete=complete)
    assert _status(planted, exp_id, profile) == "FAIL"


def test_one_planted_seed_among_good_ones_fails(committed_copy: Path, tmp_path: Path) -> None:
    """One seed at 3.5 % moves the mean of mnist-ff-hard-negatives (1.51 %) by 0.66 points."""
    planted = _plant(committed_copy, tmp_path, "mnist-ff-hard-negatives", "paper", 3.5, seeds=(1,))
    assert _status(planted, "mnist-ff-hard-negatives") == "FAIL"


def test_a_partial_result_without_a_finished_cpu_run_fails(committed_copy: Path, tmp_path: Path) -> None:
    planted = tmp_path / "results"
    shutil.copytree(committed_copy, planted)
    shutil.rmtree(planted / "mnist-ff-unsupervised" / "cpu")
    check = check_one(get_experiment("mnist-ff-unsupervised"), "paper", planted)
    assert check is not None and check.partial_limit is None and check.status == "FAIL"


def test_a_complete_result_cannot_hide_behind_a_partial_seed(committed_copy: Path, tmp_path: Path) -> None:
    """Marking a complete entry's planted seed as unfinished does not turn FAIL into PARTIAL: the
    partial limit (its cpu run, 1.97 + 1.0) is still far below 30 %."""
    planted = _plant(committed_copy, tmp_path, "mnist-ff-hard-negatives", "paper", 30.0, seeds=(0,), complete=False)
    assert _status(planted, "mnist-ff-hard-negatives") == "FAIL"


def test_the_cli_check_exits_nonzero_on_a_plant(committed_copy: Path, tmp_path: Path) -> None:
    planted = _plant(committed_copy, tmp_path, "mnist-ff-supervised-fast", "paper", 30.0)
    env = {"FFREPRO_RESULTS": str(planted), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "ffrepro", "check"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "mnist-ff-supervised-fast" in out.stdout and "FAIL" in out.stdout


def test_a_known_gap_needs_a_bound_and_a_note() -> None:
    with pytest.raises(ValueError):
        KnownGap(0.0, "explained")
    with pytest.raises(ValueError):
        KnownGap(0.4, " ")
