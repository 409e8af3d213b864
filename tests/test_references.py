"""Results against references: fresh smoke runs against the committed smoke results, and the
committed cpu/paper results against the paper's numbers within the registry's tolerances."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffrepro.config import PROFILES
from ffrepro.registry import EXPERIMENTS
from ffrepro.report import check_all
from ffrepro.results import REPO_ROOT, load_results

COMMITTED = REPO_ROOT / "results"
# The "results to commit": these must be on disk, complete or (paper scale) at least partial.
REQUIRED = [(e, "cpu") for e in EXPERIMENTS] + [("mnist-ff-supervised", "paper"), ("mnist-bp", "paper")]


@pytest.mark.parametrize("exp_id", list(EXPERIMENTS))
def test_smoke_run_matches_committed_reference(exp_id: str, smoke_results: Path) -> None:
    (fresh,) = load_results(exp_id, "smoke", smoke_results)
    refs = load_results(exp_id, "smoke", COMMITTED)
    assert refs, f"no committed smoke reference: run `python -m ffrepro run {exp_id} --profile smoke`"
    ref = refs[0]
    assert fresh["config"] == ref["config"], "the smoke config changed: regenerate the reference"
    tol = EXPERIMENTS[exp_id].tolerance["smoke"]
    for split, modes in ref["final"].items():
        for mode, value in modes.items():
            assert abs(fresh["final"][split][mode] - value) <= tol, (split, mode, fresh["final"][split][mode], value)


@pytest.mark.parametrize("exp_id", list(EXPERIMENTS))
def test_smoke_run_learns(exp_id: str, smoke_results: Path) -> None:
    """Even the smoke profile ends far below the 90 % error of guessing, in every inference mode."""
    (fresh,) = load_results(exp_id, "smoke", smoke_results)
    for mode, value in fresh["final"]["test"].items():
        assert value < 60, (mode, value)


@pytest.mark.parametrize("exp_id,profile", REQUIRED)
def test_required_results_are_committed(exp_id: str, profile: str) -> None:
    assert load_results(exp_id, profile, COMMITTED), f"missing results/{exp_id}/{profile}: run `python -m ffrepro run {exp_id} --profile {profile}`"


def test_committed_results_match_the_registry_config() -> None:
    """A result whose config is no longer what the registry says is stale and must be rerun."""
    for exp in EXPERIMENTS.values():
        for profile in PROFILES:
            for r in load_results(exp.id, profile, COMMITTED):
                assert r["config"] == exp.config(profile).to_dict(), f"stale results/{exp.id}/{profile}/seed{r['seed']}.json"


def test_committed_results_within_tolerance_of_the_paper() -> None:
    checks = check_all(("cpu", "paper"), COMMITTED)
    assert checks
    failing = [f"{c.experiment}/{c.profile}: {c.mean:.2f} % vs paper {c.paper} % ± {c.tolerance}" for c in checks if c.status == "FAIL"]
    assert not failing, failing
