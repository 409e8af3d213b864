"""Results against references: fresh smoke runs against the committed smoke references (bands
derived from the statistics, see ffrepro.references), and the committed cpu/paper results against
the paper's numbers within the registry's tolerances."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ffrepro.config import PROFILES, override, same_config
from ffrepro.references import REFERENCE_SEEDS, REFERENCE_VARIANTS, SE_FACTOR, STAT_FACTOR, STAT_RELATIVE, binomial_se, bands, compare, compare_values, read_reference
from ffrepro.registry import EXPERIMENTS, all_ids, get_experiment
from ffrepro.report import check_all
from ffrepro.results import REPO_ROOT, load_results
from ffrepro.runner import PERTURB_ENV, run

COMMITTED = REPO_ROOT / "results"
# The "results to commit": these must be on disk, complete or (paper scale) at least partial.
REQUIRED = [(e, "cpu") for e in EXPERIMENTS] + [("mnist-ff-supervised", "paper"), ("mnist-bp", "paper")]


@pytest.mark.parametrize("exp_id", list(EXPERIMENTS))
def test_smoke_run_matches_committed_reference(exp_id: str, smoke_results: Path) -> None:
    """A fresh smoke run (seed 0, this machine's kernels and thread count) lies within every band of
    the committed reference. The bands are derived in ffrepro.references from the binomial standard
    error of each evaluated split (4 x se) plus the measured spread of the reference's runs over
    seeds 0-2 at 1 and 2 threads, with portable kernels and from a perturbed start; they are computed
    from the stored runs, never stored."""
    (fresh,) = load_results(exp_id, "smoke", smoke_results)
    ref = read_reference(exp_id, COMMITTED)
    problems = compare(fresh, ref)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("exp_id", list(EXPERIMENTS))
def test_reference_samples_seeds_threads_and_kernels(exp_id: str) -> None:
    ref = read_reference(exp_id, COMMITTED)
    assert sorted((r["seed"], r["variant"]) for r in ref["runs"]) == sorted((s, v) for s in REFERENCE_SEEDS for v in REFERENCE_VARIANTS)
    assert {r["provenance"]["threads"] for r in ref["runs"]} == {1, 2}
    # the perturbed start took: those runs say so, and each left its seed's unperturbed trajectory
    by = {(r["variant"], r["seed"]): r for r in ref["runs"]}
    size = float(REFERENCE_VARIANTS["2 threads, perturbed start"][PERTURB_ENV])
    for seed in REFERENCE_SEEDS:
        nudged, plain = by[("2 threads, perturbed start", seed)], by[("2 threads", seed)]
        assert nudged["provenance"].get("perturbed_start") == size and "perturbed_start" not in plain["provenance"]
        untimed = [{k: v for k, v in r["history"][-1].items() if k != "seconds"} for r in (nudged, plain)]
        assert untimed[0] != untimed[1]
    assert all(r["config"] == ref["config"] and same_config(r["config"], EXPERIMENTS[exp_id].config("smoke")) for r in ref["runs"])
    # bands of a few points need 10,000 images; CIFAR-10's smoke FF runs evaluate 300 (bands of about
    # +-13 points), since testing a recurrent net with every label costs 100 steps of the net per image,
    # and its BP runs 1,000
    assert ref["eval_examples"] >= {"mnist": 10_000, "cifar10": 300}[ref["config"]["data"]["dataset"]]


def test_bands_follow_the_stated_derivation() -> None:
    """4 x the binomial se of the split plus the largest deviation of a reference run from the mean."""
    runs = [{"final": {"test": {"m": e}}, "history": [{"pos_goodness": [g]}]} for e, g in ((20.0, 100.0), (21.0, 102.0), (22.0, 98.0))]
    b = bands({"runs": runs, "eval_examples": 10_000})
    assert b["test.m"].mean == pytest.approx(21.0)
    assert b["test.m"].half_width == pytest.approx(SE_FACTOR * binomial_se(21.0, 10_000) + 1.0)
    assert binomial_se(21.0, 10_000) == pytest.approx(100 * (0.21 * 0.79 / 10_000) ** 0.5, rel=1e-3)
    assert b["pos_goodness[0]"].half_width == pytest.approx(STAT_FACTOR * 2.0 + STAT_RELATIVE * 100.0)
    assert binomial_se(0.0, 1000) > 0  # a perfect reference still has a band


def _broken_run(tmp_path: Path, **sets: str) -> dict:
    exp = EXPERIMENTS["mnist-ff-supervised"]
    cfg = override(exp.config("smoke"), sets) if sets else None
    return run(exp.id, "smoke", 0, config=cfg, device="cpu", fresh=True, results_dir=tmp_path / "r", checkpoint_dir=tmp_path / "c", progress=False)


def test_the_reference_test_fails_for_a_threshold_off_by_two(tmp_path: Path) -> None:
    """The test of the test: a deliberate bug, the threshold doubled, falls outside the bands."""
    problems = compare_values(_broken_run(tmp_path, **{"model.threshold_per_unit": "2.0"}), read_reference("mnist-ff-supervised", COMMITTED))
    assert any(p.startswith("pos_goodness") for p in problems), problems
    assert any(p.startswith("test.goodness") for p in problems), problems


def test_the_reference_test_fails_when_labels_are_not_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test of the test: a deliberate bug, the label never written into the image."""
    import ffrepro.ff
    import ffrepro.supervised

    monkeypatch.setattr(ffrepro.ff, "embed_label", lambda x, label, strength=1.0, neutral=0.1: x.clone())
    # the same bug where layer 1's image product is shared (training, and the test of every label): no label pixels at all
    no_label = lambda labels, strength, dtype: torch.zeros(*labels.shape, ffrepro.ff.NUM_CLASSES, dtype=dtype)  # noqa: E731
    for module in (ffrepro.ff, ffrepro.supervised):
        monkeypatch.setattr(module, "label_pixels", no_label)
    problems = compare(_broken_run(tmp_path), read_reference("mnist-ff-supervised", COMMITTED))
    assert any(p.startswith("test.goodness") for p in problems), problems


def test_same_seed_same_threads_is_deterministic(tmp_path: Path) -> None:
    """On one machine, the same seed at the same thread count gives identical metrics and history."""
    a = _broken_run(tmp_path / "a")
    b = _broken_run(tmp_path / "b")
    assert a["provenance"]["threads"] == b["provenance"]["threads"] == torch.get_num_threads()
    assert a["final"] == b["final"]
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in a["history"]] == [{k: v for k, v in h.items() if k != "seconds"} for h in b["history"]]


CHANCE = 90.0  # percent error of guessing one of 10 classes
LEARNS_SE = 8.0  # how many binomial standard errors (at chance) a band's upper edge must lie below it

_GOODNESS_AT_CHANCE = (
    "CIFAR-10's smoke FF net (2,000 images, 2 epochs: 40 updates) has not yet learned the goodness test "
    "(reference means 85-91 %); clearing the line needs about 200 updates and 1,000 evaluated images, several "
    "minutes a run (measured in ffrepro/experiments/cifar10.py). The label-free bug test below still fails its reference, "
    "and tests/test_cifar.py::test_goodness_inference_picks_the_label_that_looks_most_positive checks the inference itself."
)
_SOFTMAX_BAND_TOO_WIDE = (
    "the one-pass softmax learns (reference means 61-77 %, the fresh run is held below 3 se of chance by "
    "test_exempt_cifar10_softmax_still_learns), but 300 evaluated images give a band of +-12-20 points that "
    "reaches above the 8-se line of 76 %; more images cost a test with every label of each (see cifar10.py)"
)
# (entry, mode) -> why the smoke reference's bands of that mode (train, val and test) may reach within
# LEARNS_SE standard errors of chance. test_exemptions_are_current keeps the list exact.
EXEMPT: dict[tuple[str, str], str] = {
    **{(f"cifar10-ff-{g}-ssq-{d}layers", mode): _GOODNESS_AT_CHANCE
       for g in ("min", "max") for d in (2, 3) for mode in ("goodness", "all_iterations", "last_iteration")},
    **{(f"cifar10-ff-{g}-ssq-{d}layers", "softmax"): _SOFTMAX_BAND_TOO_WIDE for g in ("min", "max") for d in (2, 3)},
}


def chance_line(n: int) -> float:
    """The highest upper edge a band on ``n`` images may have: LEARNS_SE binomial se below chance."""
    return CHANCE - LEARNS_SE * 100 * math.sqrt(CHANCE / 100 * (1 - CHANCE / 100) / n)


def too_close_to_chance(exp_id: str) -> dict[str, str]:
    """The error bands ("split.mode") of a committed reference whose upper edge is above :func:`chance_line`."""
    ref = read_reference(exp_id, COMMITTED)
    line = chance_line(ref["eval_examples"])
    return {
        name: f"{name}: band {b.mean:.1f} ± {b.half_width:.1f} % ({b.derivation}) ends at {b.mean + b.half_width:.1f} % > {line:.1f} %"
        for name, b in bands(ref).items()
        if name.split(".")[0] in ("train", "val", "test") and b.mean + b.half_width > line
    }


@pytest.mark.parametrize("exp_id", list(EXPERIMENTS))
def test_smoke_run_learns(exp_id: str) -> None:
    """Every error band of every smoke reference (each split and inference mode it compares) ends
    LEARNS_SE = 8 binomial standard errors below the 90 % of guessing (87.6 % with MNIST's 10,000
    evaluated images, 82.4 % with 1,000, 76.1 % with 300), so a fresh run that passes
    test_smoke_run_matches_committed_reference has learned, and an inference that is broken to chance
    fails that test. The modes of EXEMPT are not held to it, each for the reason it gives."""
    far = too_close_to_chance(exp_id)
    exempt = {name for name in far if (exp_id, name.split(".", 1)[1]) in EXEMPT}
    assert not far.keys() - exempt, "\n".join(far[k] for k in sorted(far.keys() - exempt))


def test_exemptions_are_current() -> None:
    """Each exempt (entry, mode) is one a reference compares and still reaches toward chance in at
    least one split; once its smoke profile learns with margin, the exemption must go."""
    assert chance_line(300) == pytest.approx(90 - 8 * 1.7321, abs=1e-3) and chance_line(10_000) == pytest.approx(87.6)
    for (exp_id, mode), reason in EXEMPT.items():
        assert reason.strip()
        compared = {name.split(".", 1)[1] for name in bands(read_reference(exp_id, COMMITTED)) if name.startswith("test.")}
        assert mode in compared, f"{exp_id}: no {mode} mode in its reference"
        assert any(name.endswith(f".{mode}") for name in too_close_to_chance(exp_id)), f"{exp_id} {mode}: learns with margin now; remove it from EXEMPT"


@pytest.mark.parametrize("exp_id", sorted({e for e, mode in EXEMPT if mode == "softmax"}))
def test_exempt_cifar10_softmax_still_learns(exp_id: str, smoke_results: Path) -> None:
    """The one-pass softmax of CIFAR-10's smoke FF nets, exempt above for its wide band, still ends
    3 binomial standard errors below chance in a fresh run (85 % on 300 test images: a net at chance
    falls below it with probability 0.001)."""
    (fresh,) = load_results(exp_id, "smoke", smoke_results)
    n = fresh["config"]["data"]["eval_examples"]
    assert fresh["final"]["test"]["softmax"] < CHANCE - 3 * 100 * math.sqrt(0.09 / n)


def test_the_reference_test_fails_when_the_label_never_reaches_a_cifar10_net(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test of the test for CIFAR-10's FF nets: a deliberate bug, every clamped label (positive,
    negative and each label tried at test) all zeros, so the last hidden layer never hears it (the
    neutral label of the one-pass softmax is left alone). Positive and negative videos are then the same:
    the last layer's FF loss doubles (107 against the reference's 54 +- 14 when measured); the goodness
    test falls to chance, which its exempt bands do not yet exclude."""
    import ffrepro.recurrent

    label_state = ffrepro.recurrent.RecurrentFFNet.label_state

    def no_label(self: ffrepro.recurrent.RecurrentFFNet, labels: torch.Tensor | None, n: int = 0) -> torch.Tensor:
        state = label_state(self, labels, n)
        return state if labels is None else torch.zeros_like(state)

    monkeypatch.setattr(ffrepro.recurrent.RecurrentFFNet, "label_state", no_label)
    exp_id = "cifar10-ff-min-ssq-2layers"
    broken = run(exp_id, "smoke", 0, device="cpu", fresh=True, results_dir=tmp_path / "r", checkpoint_dir=tmp_path / "c", progress=False)
    problems = compare(broken, read_reference(exp_id, COMMITTED))
    assert any(p.startswith(("ff_loss[1]", "test.goodness")) for p in problems), problems


@pytest.mark.parametrize("exp_id,profile", REQUIRED)
def test_required_results_are_committed(exp_id: str, profile: str) -> None:
    assert load_results(exp_id, profile, COMMITTED), f"missing results/{exp_id}/{profile}: run `python -m ffrepro run {exp_id} --profile {profile}`"


def test_committed_results_match_the_registry_config() -> None:
    """A result whose config is no longer what the registry says is stale and must be rerun."""
    for exp in map(get_experiment, all_ids()):  # variants too
        for profile in PROFILES:
            for r in load_results(exp.id, profile, COMMITTED):
                assert same_config(r["config"], exp.config(profile)), f"stale results/{exp.id}/{profile}/seed{r['seed']}.json"


def test_committed_results_within_tolerance_of_the_paper() -> None:
    checks = check_all(("cpu", "paper"), COMMITTED)
    assert checks
    failing = [f"{c.name}/{c.profile}: {c.mean:.2f} % vs paper {c.paper} % ± {c.tolerance}" for c in checks if c.status == "FAIL"]
    assert not failing, failing


def test_known_gaps_are_current() -> None:
    """A registry note explaining a gap must describe a committed check that still misses the paper."""
    from ffrepro.report import check_one

    for exp in EXPERIMENTS.values():
        for profile, gap in exp.known_gaps.items():
            c = check_one(exp, profile, COMMITTED)
            assert gap.note.strip() and gap.bound > 0, f"{exp.id}: known gap for {profile} without a note or a bound"
            assert c is not None and c.status == "GAP", f"{exp.id}/{profile}: the known gap closed (status {c and c.status}); remove its note"
