"""Variants of a registry entry ("ID/VARIANT"): a study's sweep points as ordinary runs with their own
results files beside the entry's (the groundwork of issue 10's sleep study)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ffrepro.config import ConfigError
from ffrepro.registry import EXPERIMENTS, get_experiment, variant_ids
from ffrepro.results import load_results, result_path

VARIANTS = {"small-lr": {"optim.lr": "0.0001"}, "adam-off": {"optim.algorithm": "smoothed_sgd", "optim.lr": "0.01"}}


@pytest.fixture
def with_variants(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EXPERIMENTS, "mnist-bp", dataclasses.replace(EXPERIMENTS["mnist-bp"], variants=VARIANTS))


def test_a_variant_changes_only_its_assignments_in_every_profile(with_variants: None) -> None:
    base, variant = get_experiment("mnist-bp"), get_experiment("mnist-bp/small-lr")
    assert variant.id == "mnist-bp/small-lr" and variant.paper_value is None and not variant.tolerance
    for profile in ("smoke", "cpu", "paper"):
        a, b = base.config(profile), variant.config(profile)
        assert b.optim.lr == 0.0001
        assert dataclasses.replace(b, optim=dataclasses.replace(b.optim, lr=a.optim.lr)) == a
    assert variant_ids("mnist-bp") == ["mnist-bp/small-lr", "mnist-bp/adam-off"]
    assert "mnist-bp/small-lr" not in EXPERIMENTS  # not an entry: no references, no tolerance check


def test_variant_scales_change_the_variants_profile_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """``variant_scales`` departs the variants of one profile further from the entry's (a sweep's smoke runs
    evaluate fewer images); the entry itself, the other profiles and the rest of its scale stay as they were."""
    from ffrepro.config import ProfileScale

    entry = dataclasses.replace(
        EXPERIMENTS["mnist-bp"], variants=VARIANTS, scales={"smoke": ProfileScale(hidden=(50, 50))},
        variant_scales={"smoke": ProfileScale(eval_examples=1_000)},
    )
    monkeypatch.setitem(EXPERIMENTS, "mnist-bp", entry)
    base, variant = get_experiment("mnist-bp"), get_experiment("mnist-bp/small-lr")
    assert base.config("smoke").data.eval_examples == 10_000 and variant.config("smoke").data.eval_examples == 1_000
    assert variant.config("smoke").model.hidden == base.config("smoke").model.hidden == (50, 50)
    assert variant.config("smoke").data.train_examples == base.config("smoke").data.train_examples
    for profile in ("cpu", "paper"):
        assert variant.config(profile).data == base.config(profile).data
    for vid in variant_ids("mnist-ff-sleep") + variant_ids("mnist-ff-sleep-unsupervised"):  # the registry's use
        assert get_experiment(vid).config("smoke").data.eval_examples == 1_000


def test_unknown_and_badly_named_variants_are_refused(with_variants: None) -> None:
    with pytest.raises(ConfigError, match="unknown variant 'nope' of mnist-bp; its variants: small-lr, adam-off"):
        get_experiment("mnist-bp/nope")
    with pytest.raises(ConfigError, match="unknown experiment 'mnist-nope'"):
        get_experiment("mnist-nope/small-lr")
    for bad in ("cpu", "a/b", ""):
        with pytest.raises(ValueError, match="variant name"):
            dataclasses.replace(EXPERIMENTS["mnist-bp"], variants={bad: {"optim.lr": "0.1"}})
    with pytest.raises(ConfigError, match="unknown parameter 'optim.nope'"):
        dataclasses.replace(EXPERIMENTS["mnist-bp"], variants={"x": {"optim.nope": "1"}}).variant("x").config("smoke")


def test_variant_results_live_beside_the_entrys(with_variants: None, tmp_path: Path) -> None:
    from ffrepro.runner import run

    r = run("mnist-bp/small-lr", "smoke", 0, device="cpu", results_dir=tmp_path / "r", checkpoint_dir=tmp_path / "c", progress=False)
    assert r["config"]["optim"]["lr"] == 0.0001
    path = result_path("mnist-bp/small-lr", "smoke", 0, tmp_path / "r")
    assert path == tmp_path / "r" / "mnist-bp" / "small-lr" / "smoke" / "seed0.json" and path.exists()
    assert [x["config"]["optim"]["lr"] for x in load_results("mnist-bp/small-lr", "smoke", tmp_path / "r")] == [0.0001]
    assert load_results("mnist-bp", "smoke", tmp_path / "r") == []  # the entry's own results are elsewhere


def test_queue_orders_variants_after_their_entry(with_variants: None) -> None:
    from ffrepro.queue import ordered_ids

    assert ordered_ids(["mnist-bp/adam-off", "mnist-bp/small-lr", "mnist-bp"]) == ["mnist-bp", "mnist-bp/small-lr", "mnist-bp/adam-off"]


def test_cli_lists_variants(with_variants: None, capsys: pytest.CaptureFixture[str]) -> None:
    from ffrepro.cli import main

    assert main(["list", "--variants", "mnist-bp"]) == 0
    assert capsys.readouterr().out.split() == ["mnist-bp/small-lr", "mnist-bp/adam-off"]
    assert main(["list"]) == 0
    assert "(+2 variants)" in capsys.readouterr().out


def test_all_ids_lists_every_entry_then_its_variants(with_variants: None) -> None:
    from ffrepro.queue import ordered_ids
    from ffrepro.registry import all_ids

    ids = all_ids()
    assert ids[ids.index("mnist-bp") : ids.index("mnist-bp") + 3] == ["mnist-bp", "mnist-bp/small-lr", "mnist-bp/adam-off"]
    assert [i for i in ids if "/" not in i] == list(EXPERIMENTS)
    assert set(ordered_ids()) == set(ids)  # the queue's default: entries and variants


def test_cli_run_checks_every_id_before_training(with_variants: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`run A B/nope` trains nothing: the bad id is named before A starts."""
    import ffrepro.runner
    from ffrepro.cli import main

    started: list[str] = []
    monkeypatch.setattr(ffrepro.runner, "run", lambda exp_id, *a, **k: started.append(exp_id))
    assert main(["run", "mnist-bp", "mnist-bp/nope", "--profile", "smoke"]) == 2
    assert "unknown variant 'nope' of mnist-bp" in capsys.readouterr().err
    assert started == []
    assert main(["run", "mnist-bp/adam-off", "mnist-bp", "--profile", "smoke", "--seed", "0", "1"]) == 0
    assert started == ["mnist-bp/adam-off"] * 2 + ["mnist-bp"] * 2
