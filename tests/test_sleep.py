"""Positive and negative phases separated in time (paper section 5, issue 10): the schedule option of
the FF trainers. Day updates see only positive data, night updates only negative data, every
schedule sees each image once as each per epoch, and "interleaved" is the unchanged ffcode update."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch

from ffrepro.book import read_source
from ffrepro.config import ConfigError, DataConfig, FFConfig, OptimConfig, RunConfig, UnsupervisedFFConfig, override
from ffrepro.data import Dataset, Split
from ffrepro.ff import FFLayer
from ffrepro.registry import get_experiment
from ffrepro.results import REPO_ROOT
from ffrepro.supervised import FFSupervisedTrainer
from ffrepro.trainer import phase_plan
from ffrepro.unsupervised import FFUnsupervisedTrainer

N_TRAIN, BATCH = 700, 100  # 7 minibatches: a block of 3 leaves a short last block


def _data() -> Dataset:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(N_TRAIN + 200, 784, generator=g)
    y = torch.randint(0, 10, (N_TRAIN + 200,), generator=g)
    return Dataset("mnist", Split(x[:N_TRAIN], y[:N_TRAIN]), Split(x[N_TRAIN:], y[N_TRAIN:]), Split(x[N_TRAIN:], y[N_TRAIN:]), {})


def _trainer(schedule: str = "interleaved", k: int = 1, unsupervised: bool = False, lr: float = 0.01, negatives: str = "hard"):
    model_cls = UnsupervisedFFConfig if unsupervised else FFConfig
    model = model_cls(hidden=(50, 50), schedule=schedule, phase_length=k)  # type: ignore[arg-type]
    if not unsupervised:
        model = dataclasses.replace(model, negative_labels=negatives)  # type: ignore[arg-type]
    cfg = RunConfig(
        method="ff-unsupervised" if unsupervised else "ff-supervised",
        data=DataConfig(batch_size=BATCH, eval_examples=100),
        model=model,
        optim=OptimConfig(epochs=2, lr=lr, readout_lr=lr * 10),
    )
    torch.manual_seed(0)
    cls = FFUnsupervisedTrainer if unsupervised else FFSupervisedTrainer
    return cls(cfg, _data(), torch.Generator().manual_seed(0))


def test_phase_plans() -> None:
    assert phase_plan(3, "interleaved", 2) == [("both", 0), ("both", 1), ("both", 2)]
    assert phase_plan(3, "positive_only", 2) == [("positive", 0), ("positive", 1), ("positive", 2)]
    assert phase_plan(5, "phases", 2) == [
        ("positive", 0), ("positive", 1), ("negative", 0), ("negative", 1),
        ("positive", 2), ("positive", 3), ("negative", 2), ("negative", 3),
        ("positive", 4), ("negative", 4),
    ]
    for k in (1, 2, 3, 7, 50):  # the sweep's bookkeeping: the same updates, each image once per phase
        plan = phase_plan(7, "phases", k)
        assert len(plan) == 14
        assert sorted(i for p, i in plan if p == "positive") == list(range(7)) == sorted(i for p, i in plan if p == "negative")


class _Spy:
    """Records, for every update, whether its first layer saw positive and negative data, and the batch
    size its loss is averaged over (ffrepro.ff.layer_grads, as the supervised and unsupervised passes call it)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        import ffrepro.ff
        import ffrepro.supervised
        import ffrepro.unsupervised

        self.calls: list[tuple[bool, bool, int]] = []
        original = ffrepro.ff.layer_grads
        spy = self

        def layer_grads(states, n_pos, n, *args, **kwargs):  # type: ignore[no-untyped-def]
            rows = states[0][1].shape[-2]
            spy.calls.append((n_pos > 0, n_pos < rows, n))
            return original(states, n_pos, n, *args, **kwargs)

        for module in (ffrepro.supervised, ffrepro.unsupervised):
            monkeypatch.setattr(module, "layer_grads", layer_grads)


@pytest.mark.parametrize("unsupervised", [False, True])
@pytest.mark.parametrize("k", [1, 3])
def test_a_day_sees_no_negative_data_and_a_night_no_positive_data(monkeypatch: pytest.MonkeyPatch, unsupervised: bool, k: int) -> None:
    spy = _Spy(monkeypatch)
    trainer = _trainer("phases", k, unsupervised)
    log = trainer.train_epoch(1)
    expected = [(p == "positive", p == "negative", BATCH) for p, _ in phase_plan(N_TRAIN // BATCH, "phases", k)]
    assert spy.calls == expected
    assert log["positive_examples"] == log["negative_examples"] == N_TRAIN
    trace = log["phase_trace"]
    assert trace["phase"][0] == "start" and set(trace["phase"][1:]) == {"positive", "negative"}
    assert len(trace["positive"][0]) == 2  # one mean goodness per layer


def test_without_sleep_no_negative_data_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _Spy(monkeypatch)
    log = _trainer("positive_only").train_epoch(1)
    assert spy.calls == [(True, False, BATCH)] * (N_TRAIN // BATCH)
    assert (log["positive_examples"], log["negative_examples"]) == (N_TRAIN, 0)
    assert log["neg_goodness"] == [0.0, 0.0]


@pytest.mark.parametrize("unsupervised", [False, True])
def test_k1_and_interleaved_differ_only_in_the_schedule(monkeypatch: pytest.MonkeyPatch, unsupervised: bool) -> None:
    """At a learning rate of zero neither schedule moves a weight, and both show the same images."""
    seen: dict[str, list[list[int]]] = {}
    for schedule in ("interleaved", "phases"):
        trainer = _trainer(schedule, 1, unsupervised, lr=0.0)
        before = {k: v.clone() for k, v in trainer.net.state_dict().items() if "mean_activity" not in k}
        shown: list[list[int]] = []
        batch = trainer.batch
        monkeypatch.setattr(trainer, "batch", lambda idx, batch=batch, shown=shown: (shown.append(sorted(idx.tolist())), batch(idx))[1])
        log = trainer.train_epoch(1)
        after = trainer.net.state_dict()
        assert all(torch.equal(v, after[k]) for k, v in before.items()), schedule
        assert log["positive_examples"] == log["negative_examples"] == N_TRAIN
        seen[schedule] = shown
    # interleaved shows each minibatch once; K = 1 shows it twice in a row (day, then night)
    assert seen["phases"][::2] == seen["interleaved"] == seen["phases"][1::2]


def test_interleaved_updates_move_weights_like_a_day_and_a_night() -> None:
    """One interleaved update's FF loss is the sum of its day and night halves."""
    torch.manual_seed(0)
    layer = FFLayer(20, 30, FFConfig(peer_normalization=0.0))
    h_pos, h_neg = torch.rand(4, 30), torch.rand(4, 30)
    g_pos, g_neg = FFLayer.goodness(h_pos), FFLayer.goodness(h_neg)
    both, _ = layer.loss_terms(h_pos, h_pos, g_pos, g_neg)
    day, _ = layer.loss_terms(h_pos, h_pos, g_pos, None)
    night, _ = layer.loss_terms(None, None, None, g_neg)
    assert torch.allclose(both, day + night)


def test_bad_schedules_are_refused() -> None:
    from ffrepro.registry import get_experiment

    cfg = get_experiment("mnist-ff-supervised").config("smoke")
    with pytest.raises(ConfigError, match="model.schedule must be one of interleaved, phases, positive_only"):
        override(cfg, {"model.schedule": "nightly"})
    with pytest.raises(ConfigError, match="model.phase_length must be a whole number"):
        override(cfg, {"model.schedule": "phases", "model.phase_length": "0"})
    with pytest.raises(ConfigError, match="implemented for ff-supervised and ff-unsupervised only"):
        override(get_experiment("mnist-ff-recurrent").config("smoke"), {"model.schedule": "phases"})
    assert override(cfg, {"model.schedule": "phases", "model.phase_length": "50"}).model.phase_length == 50


@pytest.mark.parametrize("entry", ["mnist-ff-sleep", "mnist-ff-sleep-unsupervised"])
@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_the_sweeps_runs_make_equal_updates_on_equal_data(entry: str, profile: str) -> None:
    """The study's bookkeeping, read from the registry: every phased run makes the same number of
    updates (twice an interleaved run's), and every run with nights sees each training image once as
    positive and once as negative data per epoch, whatever K."""
    from ffrepro.data import TRAIN_SIZE
    from ffrepro.registry import get_experiment, variant_ids

    updates: dict[str, set[int]] = {}
    for vid in variant_ids(entry):
        cfg = get_experiment(vid).config(profile)
        batches = -(-min(cfg.data.train_examples or TRAIN_SIZE, TRAIN_SIZE) // cfg.data.batch_size)
        plan = phase_plan(batches, cfg.model.schedule, cfg.model.phase_length)
        updates.setdefault(cfg.model.schedule, set()).add(len(plan) * cfg.optim.epochs)
        if cfg.model.schedule != "positive_only":
            assert sorted(i for p, i in plan if p != "negative") == list(range(batches)) == sorted(i for p, i in plan if p != "positive"), vid
    assert len(updates["phases"]) == len(updates["interleaved"]) == 1, updates
    assert updates["phases"] == {2 * n for n in updates["interleaved"]}
    assert {get_experiment(v).config(profile).model.phase_length for v in variant_ids(entry) if v.split("/")[1].startswith("phases")} == {1, 10, 100, 500}


def test_versus_reads_differences_against_their_standard_error() -> None:
    from ffrepro.figures.common import versus

    assert versus(4.20, 4.74, 10_000) == "as well as"  # 0.54 points, 2 se = 0.58
    assert versus(4.0, 5.0, 10_000) == "better than"
    assert versus(90.2, 4.74, 10_000) == "worse than"
    assert versus(4.0, 5.0, 1_000) == "as well as"  # fewer test images, wider band


def test_findings_read_the_sweep_table() -> None:
    import pandas as pd

    from ffrepro.figures.sleep import findings, twins

    index = pd.MultiIndex.from_tuples([("max ssq", 0.01, 0.9), ("max ssq", 0.0001, 0.999), ("min ssq", 0.0001, 0.999)], names=["goodness", "learning rate", "smoothing"])
    table = pd.DataFrame(
        [[4.7, 4.2, 90.8, 90.2, 90.2], [9.0, 9.5, 12.0, 30.0, 88.0], [8.0, 8.5, 11.0, 20.0, 40.0]],
        index=index, columns=["interleaved", "K = 1", "K = 10", "K = 100", "K = 500"],
    )
    f = findings(table, ("max ssq", 0.01, 0.9))
    assert f["default"] == {"interleaved": 4.7, "K = 1": 4.2, "K = 10": 90.8, "K = 100": 90.2, "K = 500": 90.2}
    assert (f["dead"], f["phased"], f["dead_alone"]) == (4, 9, 4)  # K >= 10 above 85 %, each twin below
    t = twins(table, 10_000)
    assert t["counts"] == {"worse than": 9, "as well as": 0, "better than": 0} and (t["n"], t["lowest_n"], t["lowest_lr"]) == (9, 6, 0.0001)
    assert (f["best_long"], f["best_long_k"], f["best_long_setting"], f["best_long_interleaved"]) == (20.0, 100, ("min ssq", 0.0001, 0.999), 8.0)
    assert f["best_interleaved"] == 4.7
    assert f["best_long_by_goodness"] == {"max ssq": 30.0, "min ssq": 20.0}
    table.loc[("min ssq", 0.0001, 0.999), "interleaved"] = 90.0  # that twin fails too, and every phased run beats it
    t, f = twins(table, 10_000), findings(table, ("max ssq", 0.01, 0.9))
    assert t["counts"] == {"worse than": 6, "as well as": 0, "better than": 3} and t["lowest_counts"]["better than"] == 3
    assert f["dead_alone"] == 4


def _run(seed: int, error: float, device: str = "cpu (x86_64, 2 threads)") -> dict:
    return {"seed": seed, "final": {"test": {"last3": error}}, "provenance": {"device": device}, "epochs_done": 3, "config": {"optim": {"epochs": 3}}}


def test_the_paper_scale_table_lists_only_variants_with_runs_beside_the_pages_profile() -> None:
    from ffrepro.figures.sleep import Setting, by_setting, scale_comparison, scale_sentence

    entry = "mnist-ff-sleep-unsupervised"
    other = by_setting({"phases-k100-lr0.01-s0.9-max_ssq": [_run(0, 72.0), _run(1, 80.0, "NVIDIA H100 80GB HBM3")],
             "interleaved-lr0.01-s0.9-max_ssq": [_run(s, e) for s, e in enumerate((2.6, 2.8, 2.9))],
             "positive_only-lr0.01-s0.9-max_ssq": [_run(0, 9.0)],
             "phases-k10-lr0.01-s0.99-max_ssq": [], "phases-k1-lr0.01-s0.9-max_ssq": [_run(s, 2.5) for s in range(3)]})
    here = {name: [_run(0, 50.0)] for name in other}
    table = scale_comparison(other, here, "last3")
    assert [i[3] for i in table.index] == ["interleaved", "K = 1", "K = 100", "positive only (no nights)"]  # no row for the variant without runs
    row = table.loc[("max ssq", "0.01", "0.9", "K = 100")]
    assert row["test error % (this scale)"] == "76.00 ± 5.66 (2 seeds)" and row["ran on"] == "NVIDIA H100 80GB HBM3, cpu (x86_64, 2 threads)"
    assert row["test error % (page's profile)"] == 50.0 and row["epochs"] == "3/3"
    assert scale_sentence(other, entry).startswith(f"4 of the study's 5 variants of {entry} have paper-profile runs so far (2 with three seeds)")
    empty = {Setting("phases", 10, smoothing=0.99): []}
    assert scale_comparison(empty, here).empty
    assert "No variant of" in scale_sentence(empty, entry)
    complete = {name: runs for name, runs in other.items() if len({r["seed"] for r in runs}) >= 3}
    assert scale_sentence(complete, entry) == (f"All {len(complete)} variants of {entry} have paper-profile runs with three seeds; "
                                               "the table shows them beside this page's profile.")


def test_the_answers_paper_scale_sentence_reads_ffcodes_settings_only() -> None:
    from ffrepro.figures.sleep import Setting, by_setting, scale_answer

    other = by_setting({"interleaved-lr0.01-s0.9-max_ssq": [_run(s, e) for s, e in enumerate((2.6, 2.8, 2.9))],
             "phases-k1-lr0.01-s0.9-max_ssq": [_run(0, 2.5)],
             "phases-k10-lr0.01-s0.9-max_ssq": [_run(s, 84.0) for s in range(3)],
             "phases-k100-lr0.01-s0.9-max_ssq": [_run(0, 72.0), _run(1, 80.0)],
             "phases-k10-lr0.01-s0.99-max_ssq": [_run(0, 5.0)],  # another smoothing: not ffcode's settings
             "phases-k500-lr0.01-s0.9-max_ssq": []})
    text = scale_answer(other, "last3")
    assert "interleaved learning ends at 2.77 % (3 seeds), phases of one update 2.50 % (1 seed)" in text
    assert "phases of 10 updates 84.00 % (3 seeds), of 100 updates 76.00 % (2 seeds)" in text and "5.00" not in text
    assert text.endswith("is 73.2 points worse than interleaved.")
    other[Setting("positive_only")] = [_run(s, 19.0) for s in range(3)]
    assert scale_answer(other, "last3").endswith("no night at all the readout reaches 19.00 % (3 seeds), so the best of the long phases is 57.0 points worse than never showing negative data.")
    assert "have not both run yet" in scale_answer({Setting("interleaved"): other[Setting("interleaved")]}, "last3")


def test_a_setting_is_what_the_variant_name_encodes() -> None:
    from ffrepro.figures.sleep import Setting

    assert Setting.of("phases-k10-lr0.001-s0.99-min_ssq") == Setting("phases", 10, 0.001, 0.99, "min_ssq")
    assert Setting.of("positive_only-lr0.01-s0.9-max_ssq") == Setting("positive_only")  # ffcode's settings are the defaults
    for entry in ("mnist-ff-sleep", "mnist-ff-sleep-unsupervised"):
        names = list(get_experiment(entry).variants)
        assert [Setting.of(n).name for n in names] == names  # the registry's names, read back and written again
        assert len({Setting.of(n) for n in names}) == len(names)


def _study_runs(entry: str, error: Callable[[Any], float], mode: str) -> dict:
    """One synthetic run per variant of ``entry`` whose final test error is ``error(setting)``."""
    from ffrepro.figures.sleep import Setting

    runs = {}
    for name in get_experiment(entry).variants:
        v = Setting.of(name)
        e = error(v)
        trace = {"update": [0, 100, 200], "phase": ["start", "positive", "negative"],
                 "positive": [[10.0, 10.0], [900.0, 800.0], [0.5, 0.4]], "negative": [[9.0, 9.0], [850.0, 700.0], [0.2, 0.1]]}
        runs[v] = [{
            "seed": 0, "final": {"test": {mode: e}},
            "config": {"model": {"hidden": [500, 500]}, "data": {"eval_examples": None, "train_examples": None, "batch_size": 100},
                       "optim": {"epochs": 3}},
            "history": [{"phase_trace": trace, "pos_goodness": [0.0, 0.0] if e > 85 else [50.0, 60.0]}],
        }]
    return runs


def test_sleep_facts_state_every_number_the_chapter_glues() -> None:
    """On synthetic studies: phases of 10 or more updates at ffcode's learning rate never learn, slower
    settings learn with a cost growing with K; unsupervised FF alike. Every key the page glues is there."""
    from ffrepro.figures.sleep import facts

    def error(v: Any) -> float:
        if v.schedule == "positive_only":
            return 40.0 if v.goodness == "max_ssq" else 45.0
        if v.schedule == "interleaved":
            return round(2.0 + abs(0.01 - v.lr) * 100, 2)
        if v.k >= 10 and v.lr >= 0.01:
            return 90.0
        return 3.0 + v.k / 100 + (0.5 if v.goodness == "max_ssq" else 0.0)

    results = _study_runs("mnist-ff-sleep", error, "goodness")
    results_u = _study_runs("mnist-ff-sleep-unsupervised", error, "last3")
    f = facts(results, results_u, {}, "cpu", [0])
    assert (f["default-interleaved"], f["default-k1"], f["default-k10"], f["k-max"], f["default-kmax"]) == (2.0, 3.51, 90.0, 500, 90.0)
    # at lr 0.01 and 0.1 (four smoothings, one; two goodnesses) phases of 10, 100 and 500 updates are dead
    assert (f["dead"], f["phased"]) == (2 * 5 * 3, 2 * 11 * 3)
    assert (f["best-long"], f["best-long-k"], f["best-long-setting"]) == (4.0, 100, "min ssq, learning rate 0.0001, smoothing 0.9")
    assert f["best-long-max-ssq"] == 4.5 and f["best-long-min-ssq"] == 4.0 and f["cost"] == pytest.approx(2.0)
    assert (f["no-sleep-max_ssq"], f["no-sleep-min_ssq"], f["u-no-sleep"]) == (40.0, 45.0, 40.0)
    # against their interleaved twins, all 66 long-phase runs do worse or as well (K = 10 at the slow rates: 0.2
    # points apart, within two standard errors); 30 of the 60 worse never learn: not most, so a cost, not a failure
    assert (f["twin-worse"], f["twin-equal"], f["twin-better"], f["twin-n"], f["dead-alone"]) == (60, 6, 0, 66, 30)
    assert (f["twin-lowest-ok"], f["twin-lowest-n"]) == (3, 18)
    assert f["short-verdict"] == "Yes, at a cost that grows with the length of the phases."
    assert f["ten-verdict"] == "From ten updates a phase on they fail there."
    assert (f["u-dead"], f["u-phased"], f["u-alike"]) == (9, 9, "fares differently")  # every unsupervised variant is at lr 0.01
    assert f["silent"] == 30 and f["k1-versus"] == "worse than"
    assert (f["start-pos"], f["day-pos"], f["day-neg"], f["night-pos"], f["night-neg"]) == (10.0, 900.0, 850.0, 0.5, 0.2)
    assert f["recipe-k10"] == "0.9: 90.00 %, 0.99: 90.00 %, 0.999: 90.00 %, 0.9999: 90.00 %"
    assert (f["lowest-lr"], f["recipe-long"]) == ("0.0001", 90.0)
    assert "have not both run yet" in f["u-paper-scale"] and facts(results, results_u, {}, "paper", [0])["u-paper-scale"].startswith("(This page")
    assert (f["n-runs"], f["batches"], f["seeds"]) == (len(results), 500, "0")
    assert json.loads(json.dumps(f)) == f  # plain values, for glue
    page = read_source(REPO_ROOT / "book" / "notebooks" / "mnist-ff-sleep.md")
    text = "\n".join(c["source"] for c in page["cells"] if c["cell_type"] == "markdown")
    glued = set(re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", text)) | set(re.findall(r"\{glue:figure\} (\S+)", text))
    assert glued - {"profile", "seeds"} <= set(f) | {"fig-sweep", "fig-trace", "fig-no-sleep", "fig-sweep-u"}, glued - set(f)


def test_negative_variety_reads_the_counts_of_the_nets_own_negatives() -> None:
    """Epoch 1: every true label's negatives spread evenly over the nine wrong labels; epoch 2: true label 3's
    negatives all on label 5 (a collapse), the others still even."""
    import math

    from ffrepro.figures.sleep import negative_variety, variety_sentence

    even = [[0 if j == i else 10 for j in range(10)] for i in range(10)]
    collapsed = [row[:] for row in even]
    collapsed[3] = [90 if j == 5 else 0 for j in range(10)]
    v = negative_variety({"history": [{"epoch": 1, "negative_labels": even}, {"epoch": 2, "negative_labels": collapsed}]})
    assert v.loc[1, "mean entropy (bits)"] == pytest.approx(math.log2(9)) and v.loc[1, "fewest labels for 90 %"] == 9
    assert v.loc[2, "lowest entropy (bits)"] == 0.0 and v.loc[2, "largest share"] == 1.0 and v.loc[2, "fewest labels for 90 %"] == 1
    assert v.loc[2, "mean entropy (bits)"] == pytest.approx(0.9 * math.log2(9))
    assert variety_sentence(v).endswith("In some epoch one wrong label took 100% of a true label's negatives: they collapsed there.")
    assert variety_sentence(v.loc[[1]]).endswith("No wrong label ever took more than 11% of a true label's negatives: they never collapsed onto one class.")


def test_gan_facts_read_the_sleep_study_and_the_supervised_entries() -> None:
    from ffrepro.figures.sleep import gan_facts

    def error(v: Any) -> float:
        return 40.0 if v.schedule == "positive_only" else 2.0 if v.schedule == "interleaved" else 90.0 if v.k >= 10 else 3.0

    results = _study_runs("mnist-ff-sleep", error, "goodness")
    uniform, hard = ([{"config": {"data": {"eval_examples": None}, "optim": {"epochs": e}}, "final": {"test": {"goodness": x}}, "seed": 0,
                       "history": [{"epoch": 1}]}] for e, x in ((60, 1.4), (20, 1.45)))
    f = gan_facts(uniform, hard, results, "cpu")
    assert (f["uniform-error"], f["hard-error"], f["uniform-epochs"], f["hard-epochs"], f["hard-versus"]) == (1.4, 1.45, 60, 20, "as well as")
    assert (f["interleaved"], f["k1"], f["k10"], f["no-sleep"], f["dead"], f["phased"]) == (2.0, 3.0, 90.0, 40.0, 66, 66)
    assert (f["dead-alone"], f["twin-worse"]) == (66, 66)  # every interleaved twin learns (2 %)
    assert f["reading"].startswith("FF shares with a GAN")
    assert f["paper-sentence"] == "The paper-profile runs of both entries are not on disk yet."
    assert f["variety"].startswith("This profile's run of mnist-ff-hard-negatives predates the count of its negatives; `python -m ffrepro run")
    even = [[0 if j == i else 100 for j in range(10)] for i in range(10)]  # every wrong label drawn as often
    hard[0]["history"] = [{"epoch": 1, "negative_labels": even}]
    assert "the lowest of any true label in any epoch is 3.17 bits" in gan_facts(uniform, hard, results, "cpu")["variety"]
    paper = gan_facts(uniform, hard, results, "cpu", (uniform * 3, hard * 3))["paper-sentence"]
    assert paper == ("At the paper's scale the two answer it better: 1.40 % with random wrong labels (3 seeds, 60 epochs) against "
                     "1.45 % with the net's own negatives (3 seeds, 20 epochs): the net's own negatives do as well as random ones.")
    page = read_source(REPO_ROOT / "book" / "notebooks" / "ff-and-gans.md")
    text = "\n".join(c["source"] for c in page["cells"] if c["cell_type"] == "markdown")
    assert set(re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", text)) <= set(f)
