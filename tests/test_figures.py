"""The first page's table (best profile per experiment, mean ± std over seeds), the FF loss curves of
old and new results, and the layering of :mod:`ffrepro.figures`, on tiny synthetic results."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from ffrepro.book import read_source
from ffrepro.figures import common, summary
from ffrepro.registry import EXPERIMENTS, get_experiment
from ffrepro.report import best_check, front_page_rows, mean_std_text, summary_row
from ffrepro.results import REPO_ROOT, SCHEMA_VERSION, result_path, write_result

BP, FF = "mnist-bp", "mnist-ff-supervised"


def fake_result(exp_id: str, profile: str, seed: int, error: float, complete: bool = True) -> dict[str, Any]:
    """A results dict with the fields the tables read: the experiment's metric is ``error``."""
    split, mode = get_experiment(exp_id).metric.split(".")
    return {
        "schema_version": SCHEMA_VERSION,
        "experiment": exp_id,
        "profile": profile,
        "seed": seed,
        "complete": complete,
        "epochs_done": 10 if complete else 4,
        "config": {"method": "ff", "model": {"hidden": [100, 100]}, "optim": {"epochs": 10}},
        "final": {split: {mode: error}},
        "history": [],
        "wall_time_s": {"train": 60.0, "evaluate": 6.0},
        "provenance": {"device": "cpu"},
    }


def write(root: Path, exp_id: str, profile: str, errors: list[float], complete: bool = True) -> None:
    for seed, error in enumerate(errors):
        write_result(result_path(exp_id, profile, seed, root), fake_result(exp_id, profile, seed, error, complete))


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ([1.61], "1.61 (1 seed)"),
        ([1.4, 1.5], "1.45 ± 0.07 (2 seeds)"),
        ([1.38, 1.43, 1.48], "1.43 ± 0.05 (3 seeds)"),
        ([2.0, 2.0, 2.0], "2.00 ± 0.00 (3 seeds)"),
    ],
)
def test_mean_std_text(values: list[float], text: str) -> None:
    assert mean_std_text(values) == text


# (profile, complete) on disk -> the profile the first page shows
@pytest.mark.parametrize(
    ("on_disk", "best"),
    [
        ([("paper", True), ("cpu", True), ("smoke", True)], "paper"),
        ([("paper", False), ("cpu", True), ("smoke", True)], "cpu"),
        ([("paper", False), ("cpu", False), ("smoke", True)], "paper"),
        ([("cpu", False), ("smoke", True)], "cpu"),
        ([("paper", False), ("smoke", True)], "paper"),
        ([("smoke", True)], "smoke"),
        ([("smoke", False)], "smoke"),
        ([("cpu", True)], "cpu"),
    ],
)
def test_best_profile(tmp_path: Path, on_disk: list[tuple[str, bool]], best: str) -> None:
    for profile, complete in on_disk:
        write(tmp_path, FF, profile, [1.5], complete)
    c = best_check(EXPERIMENTS[FF], tmp_path)
    assert c is not None and c.profile == best


def test_best_profile_without_results(tmp_path: Path) -> None:
    assert best_check(EXPERIMENTS[FF], tmp_path) is None


def test_front_page_rows(tmp_path: Path) -> None:
    write(tmp_path, FF, "cpu", [1.38, 1.43, 1.48])
    write(tmp_path, FF, "paper", [1.61], complete=False)
    write(tmp_path, FF, "smoke", [40.0])
    write(tmp_path, BP, "smoke", [9.0, 11.0])
    rows = {r["experiment"]: r for r in front_page_rows(root=tmp_path)}
    assert set(rows) == {BP, FF}  # one row per experiment with results, none for the others
    assert rows[FF]["profile"] == "cpu" and rows[FF]["status"] == "PASS"
    assert rows[FF]["ours %"] == "1.43 ± 0.05 (3 seeds)"
    assert rows[FF]["tolerance"] == f"±{EXPERIMENTS[FF].tolerance['cpu']}"
    assert rows[BP]["profile"] == "smoke" and rows[BP]["status"] == "smoke" and rows[BP]["tolerance"] == "n/a"
    assert rows[BP]["ours %"] == "10.00 ± 1.41 (2 seeds)"


def test_partial_paper_run_is_marked(tmp_path: Path) -> None:
    """A partial paper run is shown when nothing finished is on disk; it reads FAIL with no finished cpu
    run to hold it to, and PARTIAL once one is there (``summary_row``, the README's row)."""
    write(tmp_path, FF, "paper", [1.61], complete=False)
    write(tmp_path, FF, "smoke", [40.0])
    (row,) = front_page_rows([FF], tmp_path)
    assert (row["profile"], row["status"], row["epochs"], row["ours %"]) == ("paper", "FAIL", "4/10", "1.61 (1 seed)")
    write(tmp_path, FF, "cpu", [1.9])
    row = summary_row(get_experiment(FF), "paper", tmp_path)
    assert row is not None and (row["status"], row["epochs"]) == ("PARTIAL", "4/10")


def test_front_page_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no results"):
        summary.front_page_table()
    write(tmp_path, FF, "cpu", [1.4, 1.5])
    write(tmp_path, FF, "smoke", [40.0])
    table = summary.front_page_table()
    assert list(table.index) == [FF]
    assert list(table.columns) == [c for c in common.OVERVIEW_COLUMNS if c != "experiment"]
    assert table.loc[FF, "hidden"] == "2 × 100" and table.loc[FF, "ours %"] == "1.45 ± 0.07 (2 seeds)"


def ff_result(seed: int, history: list[dict[str, Any]], peer: float = 0.03) -> dict[str, Any]:
    return {"seed": seed, "config": {"method": "ff", "model": {"peer_normalization": peer}}, "history": history}


NEW = [{"epoch": e, "ff_loss": [0.5, 0.6], "peer_loss": [-0.1, 0.2], "val_error_softmax": 5.0} for e in (1, 2)]
OLD = [{"epoch": e, "layer_loss": [0.4, 0.8], "val_error_softmax": 5.0} for e in (1, 2)]


def test_ff_loss_is_the_logistic_loss_where_logged() -> None:
    epochs, loss, title, ylabel = common.ff_loss_per_layer([ff_result(0, NEW)])
    assert epochs.tolist() == [1, 2] and loss.shape == (1, 2, 2) and loss[0, 0].tolist() == [0.5, 0.6]
    assert "peer" not in title + ylabel


def test_old_results_show_the_sum_and_say_so() -> None:
    _, loss, title, ylabel = common.ff_loss_per_layer([ff_result(0, OLD)])
    assert loss[0, 0].tolist() == [0.4, 0.8] and "peer" in ylabel
    _, loss, _, ylabel = common.ff_loss_per_layer([ff_result(0, OLD), ff_result(1, NEW)])  # mixed: sums for all
    assert loss[1, 0].tolist() == pytest.approx([0.4, 0.8]) and "peer" in ylabel
    _, _, title, ylabel = common.ff_loss_per_layer([ff_result(0, OLD, peer=0.0)])  # no peer term: the sum is the loss
    assert "peer" not in title + ylabel


def test_learning_curves_label_the_loss() -> None:
    axes = common.learning_curves([ff_result(0, OLD)]).axes
    assert "peer" in axes[1].get_ylabel()
    assert "peer" not in common.learning_curves([ff_result(0, NEW)]).axes[1].get_ylabel()


def imported_ffrepro_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ffrepro"):
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("ffrepro")}
    return found


def test_figures_are_layered() -> None:
    """No core module imports ffrepro.figures but ffrepro.book, which sits above it and collects its pages;
    chapter modules import common, never each other."""
    package = REPO_ROOT / "ffrepro"
    for path in package.rglob("*.py"):
        if "figures" not in path.relative_to(package).parts and path != package / "book.py":
            assert not any(m.startswith("ffrepro.figures") for m in imported_ffrepro_modules(path)), path
    chapters = {p.stem for p in (package / "figures").glob("*.py")} - {"__init__", "common"}
    for name in chapters:
        imported = imported_ffrepro_modules(package / "figures" / f"{name}.py")
        assert not {f"ffrepro.figures.{c}" for c in chapters} & imported, name


def _recurrent_result(exp_id: str, seed: int, error: float) -> dict[str, Any]:
    """A recurrent run at cpu with the fields the chapter's facts read; iteration t's test error is
    ``error + 8 - t`` until the fifth and ``error + 3`` after it, and window 3-5 is the best."""
    r = fake_result(exp_id, "cpu", seed, error)
    cfg = get_experiment(exp_id).config("cpu")
    r["config"] = cfg.to_dict()
    r["final"] = {"test": {"goodness": error, "all_iterations": error + 0.5, "last_iteration": error + 1.0}, "train": {"goodness": error / 2}}
    windows = {f"{a}-{b}": error + (0.0 if (a, b) == (3, 5) else 1.0) for a in range(1, 9) for b in range(a, 9)}
    r["extras"] = {"window_error": {"val": windows, "test": {k: v + 0.1 for k, v in windows.items()}},
                   "iteration_error": {"test": [error + max(8 - t, 3) for t in range(1, 9)]}}
    r["history"] = [{"epoch": 1, "seconds": 30.0 + seed}, {"epoch": 2, "seconds": 20.0}]
    return r


def test_recurrent_facts_read_every_number_of_the_chapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import re

    from ffrepro.figures import recurrent
    from ffrepro.recurrent import flops

    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    ids = ["mnist-ff-recurrent", "mnist-ff-recurrent-2layers"]
    results = {e: [_recurrent_result(e, s, 1.5 + s / 10) for s in (0, 1)] for e in ids}
    for e, rs in results.items():
        for r in rs:
            write_result(result_path(e, "cpu", r["seed"], tmp_path), r)
    f = recurrent.facts(results, "cpu", [0, 1])
    main = get_experiment(ids[0])
    model = main.config("cpu").model
    assert f["depth-words"] == "two or three" and f["seeds"] == "0, 1" and f["n-test"] == 10_000
    assert (f["iterations"], f["damping"], f["damping-new"]) == (model.iterations, model.damping, pytest.approx(1 - model.damping))
    assert f["label-norm"] == pytest.approx(10 ** 0.5 * model.label_strength)
    for e in ids:
        exp = get_experiment(e)
        assert f[f"{e}-test-goodness"] == pytest.approx(1.55) and f[f"{e}-test-last_iteration"] == pytest.approx(2.55)
        assert f[f"{e}-best-val-window"] == "3-5" and f[f"{e}-best-val-window-test"] == pytest.approx(1.65)
        assert (f[f"{e}-iteration-1"], f[f"{e}-best-iteration"], f[f"{e}-best-iteration-error"]) == (pytest.approx(8.55), 5, pytest.approx(4.55))
        assert (f[f"{e}-seconds-per-epoch"], f[f"{e}-fastest-epoch"]) == (25.25, 20.0)
        assert f[f"{e}-status"] in {"PASS", "FAIL", "GAP"} and f[f"{e}-tolerance"] == exp.tolerance["cpu"]
        # the package's cost model, at the training split's size: what the page's TFLOP and PFLOP say
        paper_epoch = flops(784, exp.paper_config.model)["train"] * 50_000
        assert f[f"{e}-paper-tflop-epoch"] == pytest.approx(paper_epoch / 1e12)
        assert f[f"{e}-paper-pflop"] == pytest.approx(paper_epoch * exp.paper_config.optim.epochs / 1e15)
        assert f[f"{e}-tflop-epoch"] == pytest.approx(flops(784, exp.config("cpu").model)["train"] * 50_000 / 1e12)
    assert json.loads(json.dumps(f)) == f
    page = read_source(REPO_ROOT / "book" / "notebooks" / "mnist-ff-recurrent.md")
    text = "\n".join(c["source"] for c in page["cells"] if c["cell_type"] == "markdown")
    glued = set(re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", text))
    assert glued <= set(f), glued - set(f)


def test_cifar_facts_read_the_maps_data_and_errors() -> None:
    from ffrepro.experiments import cifar10
    from ffrepro.figures import cifar

    ids = [e.id for e in cifar10.EXPERIMENTS]
    results = {}
    for i, e in enumerate(ids):
        cfg = get_experiment(e).config("cpu")
        final = {"test": {"bp": 40.0 + i} if cfg.method == "bp" else {"goodness": 50.0 + i, "softmax": 55.0 + i},
                 "train": {"bp": 1.0} if cfg.method == "bp" else {"goodness": 30.0, "softmax": 35.0}}
        results[e] = [{**fake_result(e, "cpu", 0, 0.0), "config": cfg.to_dict(), "final": final}]
    f = cifar.facts(results, "cpu", [0])
    assert (f["grid"], f["channels"], f["window"], f["padding"]) == (32, 3, 11, 5)
    assert (f["fan-in"], f["corner-fan-in"], f["units"], f["weights-per-map"]) == (363, 108, 3072, 1024 * 363 * 3)
    assert f["dense-ratio"] == pytest.approx(3072 / 363)
    assert (f["train-size"], f["val-size"], f["n-train"], f["n-train-eval"], f["n-test"]) == (45_000, 5_000, 10_000, 1_000, 1_000)
    paper_ff, paper_bp = get_experiment("cifar10-ff-min-ssq-2layers").paper_config, get_experiment("cifar10-bp-2layers").paper_config
    assert (f["ff-paper-epochs"], f["bp-paper-epochs"], f["ff-lr"], f["bp-lr"]) == (paper_ff.optim.epochs, paper_bp.optim.epochs, paper_ff.optim.lr, paper_bp.optim.lr)
    assert f["cifar10-bp-2layers-test"] == 40.0 and f["cifar10-bp-2layers-paper"] == 37
    assert f["cifar10-ff-min-ssq-2layers-test-softmax"] == 56.0 and f["cifar10-ff-min-ssq-2layers-paper-softmax"] == 45
    assert "cifar10-bp-2layers-test-softmax" not in f
    # the cost module's count at the paper's scale: the registry comment's 10.3 TFLOP an epoch (FF, two layers)
    assert f["cifar10-ff-min-ssq-2layers-paper-tflop-epoch"] == pytest.approx(10.3, abs=0.05)
    assert f["cifar10-ff-min-ssq-3layers-paper-tflop-epoch"] == pytest.approx(20.0, abs=0.05)
    assert (f["repro-cifar-ff"], f["table1-bp-range"]) == (77, "37-39")
    assert _page_glue_keys("cifar10-table1.md") <= set(f) | {"fig-curves", "fig-fields"}


def _page_glue_keys(notebook: str) -> set[str]:
    import re

    page = read_source(REPO_ROOT / "book" / "notebooks" / notebook)
    text = "\n".join(c["source"] for c in page["cells"] if c["cell_type"] == "markdown")
    return set(re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", text)) | set(re.findall(r"\{glue:figure\}\s*(\S+)", text))


def test_jitter_facts_on_the_committed_smoke_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read from the committed smoke runs (the fields need trained weights): the paper's shifts, every
    key the page glues, the gains as the gain table states them."""
    from ffrepro.figures import jitter

    monkeypatch.setenv("FFREPRO_RESULTS", str(REPO_ROOT / "results"))
    ids = ["mnist-ff-jitter", "mnist-ff-supervised", "mnist-bp-jitter", "mnist-bp-4x2000"]
    results = {e: common.require_results(e, "smoke", [0]) for e in ids}
    f = jitter.facts(results, "smoke", [0])
    paper = get_experiment("mnist-ff-jitter").paper_config
    assert f["shifts"] == (2 * paper.data.jitter + 1) ** 2 and f["jitter-epochs"] == paper.optim.epochs
    assert f["views-per-shift"] == round(paper.optim.epochs * paper.data.jitter_passes / f["shifts"])
    assert f["ff-gain"] == pytest.approx(float(jitter.jitter_gain_table("smoke", [0]).loc["FF", "gain (points)"]))
    assert f["mnist-ff-jitter-test"] == common.mean_error(results["mnist-ff-jitter"], "test", "goodness")
    assert all(-1 <= f[f"{e}-smoothness"] <= 1 for e in jitter.FIELDS)
    assert _page_glue_keys("mnist-ff-jitter.md") <= set(f) | set(jitter.figures(results))


def test_unsupervised_facts_on_the_committed_smoke_results(monkeypatch: pytest.MonkeyPatch) -> None:
    from ffrepro.figures import unsupervised

    monkeypatch.setenv("FFREPRO_RESULTS", str(REPO_ROOT / "results"))
    results = {e: common.require_results(e, "smoke", [0]) for e in (unsupervised.DENSE, unsupervised.LOCAL)}
    f = unsupervised.facts(results, "smoke", [0])
    maps = unsupervised.local_maps_table(results[unsupervised.LOCAL][0])
    assert f["local-weights"] == int(maps["weights"].sum()) < f["local-dense-weights"]
    assert f["blur-steps"] == results[unsupervised.DENSE][0]["config"]["model"]["blur_steps"]
    assert f["mnist-ff-unsupervised-paper"] == get_experiment(unsupervised.DENSE).paper_value
    glued = _page_glue_keys("mnist-ff-unsupervised.md")
    assert glued <= set(f) | set(unsupervised.figures(results)) | {"fig-hybrids-unsupervised"}, glued - set(f)


@pytest.mark.parametrize(("ff_box", "bp_blocked", "start"), [
    (2.2, 9.0, "So the claim holds: the box costs FF nothing measurable"), (3.5, 9.0, "So FF learns through the box at a measurable cost"),
    (2.2, 1.7, "So the box costs FF nothing measurable, but it costs backprop"), (9.0, 9.0, "So at this scale the claim does not hold"),
])
def test_blackbox_facts_and_verdict(ff_box: float, bp_blocked: float, start: str) -> None:
    """The verdict rests on what the box costs each learner (with it minus without), judged by two
    standard errors: binomial on 10,000 test images here (one seed a run)."""
    from ffrepro.figures import blackbox

    errors = {"mnist-ff-blackbox/no-box": 2.0, "mnist-ff-blackbox": ff_box, "mnist-bp-blackbox/no-box": 1.5,
              "mnist-bp-blackbox": bp_blocked, "mnist-bp-blackbox/straight-through": 1.6,
              "mnist-ff-blackbox/scrambled": ff_box, "mnist-bp-blackbox/scrambled-straight-through": bp_blocked}
    config = {"data": {"eval_examples": None}, "model": {"hidden": [500] * 4, "black_box_after": 2}, "optim": {"epochs": 10}}
    results = {}
    for exp_id, _, _, mode in blackbox.RUNS:
        modes = ("goodness", "softmax", "neutral_goodness") if mode == "goodness" else (mode,)
        results[exp_id] = [{"config": config, "final": {split: {m: errors[exp_id] for m in modes} for split in ("train", "test")}}]
    f = blackbox.facts(results, "cpu", [0])
    assert (f["box-after"], f["box-next"], f["depth"], f["width"], f["n-test"]) == (2, 3, 4, 500, 10_000)
    assert (f["ff-box"], f["bp-blocked"], f["bp-st"]) == (ff_box, bp_blocked, 1.6)
    assert f["ff-cost"] == pytest.approx(ff_box - 2.0) and f["bp-blocked-cost"] == pytest.approx(bp_blocked - 1.5)
    binomial = ((ff_box / 100 * (1 - ff_box / 100) + 0.02 * 0.98) / 10_000) ** 0.5 * 100
    assert f["ff-cost-2se"] == pytest.approx(2 * binomial) and f["ff-cost-softmax"] == f["ff-cost"]
    assert f["st-versus"] == "as well as" and f["verdict"].startswith(start), f["verdict"]
    table = blackbox.cost_table(results, f["n-test"])
    assert len(table) == 9 and table.loc[("backprop", "gradient blocked", "backprop"), "cost (points)"] == round(bp_blocked - 1.5, 2)
    assert f["ff-scrambled-cost"] == f["ff-cost"] and f["bp-scrambled-st-cost"] == f["bp-blocked-cost"]
    assert f["surrogate-verdict"].startswith("With a box whose derivative" if start.startswith("So the claim holds") or "measurable cost" in start
                                             else "Even with a box whose derivative")
    assert _page_glue_keys("blackbox.md") <= set(f)


def test_blackbox_cost_takes_the_seeds_spread_where_it_is_larger() -> None:
    from ffrepro.figures import blackbox

    def runs(*errors: float) -> list[dict]:
        return [{"final": {"test": {"goodness": e}}} for e in errors]

    points, se = blackbox.cost(runs(3.0, 4.0, 5.0), runs(2.0, 2.0, 2.0), "goodness", 10_000)
    assert points == pytest.approx(2.0) and se == pytest.approx((1.0 / 3) ** 0.5)  # variance 1 over 3 seeds, the other side none
    points, se = blackbox.cost(runs(3.0), runs(2.0), "goodness", 10_000)  # one seed a side: binomial
    assert se == pytest.approx(((0.03 * 0.97 + 0.02 * 0.98) / 10_000) ** 0.5 * 100)


def test_hybrid_facts_read_the_statistics() -> None:
    """On a synthetic statistics table shaped as hybrids.hybrid_statistics makes it."""
    import numpy as np
    import pandas as pd

    from ffrepro.figures import hybrids

    d = np.arange(1, 21)
    columns = {}
    for kind, scale in (("digits", 0.9), ("hybrids", 0.6), ("shuffled", -0.001)):
        columns[("within one image", kind)] = scale / d
        columns[("at fixed positions", kind)] = scale / d**0.5
    columns[("mask", "same side")] = 0.5 + 0.2 / d
    stats = pd.DataFrame(columns, index=pd.Index(d, name="distance (pixels)"))
    f = hybrids.facts(stats, blur_steps=10, n_images=2000)
    assert (f["blur-steps"], f["blur-sigma"], f["n-images"]) == (10, pytest.approx(5 ** 0.5), 2000)
    assert (f["within-digits-1"], f["within-hybrids-10"], f["within-shuffled-1"]) == (0.9, 0.06, 0.0)
    assert str(f["within-shuffled-10"]) == "0.0"  # rounded -0.0001: no "-0.00" on the page
    assert f["ratio-1"] == pytest.approx(0.6 / 0.9) and f["same-1"] == pytest.approx(0.7)
    assert f["same-half-distance"] == 11  # 0.5 + 0.2 / 11 = 0.518, the first share below 0.52
    assert _page_glue_keys("hybrid-negatives.md") <= set(f) | {"fig-mask-steps", "fig-hybrids", "fig-noise-vs-hybrid"}


def test_bp_facts_read_the_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ffrepro.figures import bp

    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    write(tmp_path, BP, "cpu", [1.5, 1.7])
    results = {BP: [{**fake_result(BP, "cpu", s, e), "final": {"train": {"bp": 0.1}, "test": {"bp": e}}} for s, e in enumerate((1.5, 1.7))]}
    f = bp.facts(results, "cpu", [0, 1])
    assert (f[f"{BP}-test-bp"], f[f"{BP}-train-bp"], f[f"{BP}-hidden"], f[f"{BP}-epochs"]) == (pytest.approx(1.6), pytest.approx(0.1), "100x100", 10)
    assert f[f"{BP}-paper"] == get_experiment(BP).paper_value and f[f"{BP}-status"] in {"PASS", "FAIL", "GAP"}
    assert _page_glue_keys("mnist-bp.md") <= set(f) | {f"fig-curves-{BP}"}


def test_known_gaps_markdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    assert summary.known_gaps_markdown() == "No known gaps among the results on disk."
    monkeypatch.setenv("FFREPRO_RESULTS", str(REPO_ROOT / "results"))
    gaps = summary.known_gaps_table()
    text = summary.known_gaps_markdown()
    assert text.count("\n- **") + text.startswith("- **") == len(gaps)
    for (exp_id, profile), row in gaps.iterrows():
        assert f"- **{exp_id}** ({profile}), test error in %: ours {row['ours %']}" in text and row["what we know"] in text
