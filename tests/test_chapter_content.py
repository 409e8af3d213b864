"""What issues 12 and 13 added to the chapters, on tiny synthetic results: training FLOPs and achieved
throughput, the "reproduce this" box and its downloads, the first page's picture, the comparison of
supervised settings with the paper and the bf16 validation."""

from __future__ import annotations

import dataclasses
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from ffrepro import book as book_pages, facts, paper
from ffrepro.book import read_source
from ffrepro.config import FFConfig, RunConfig
from ffrepro.cost import achieved, ff_flops, train_flops_per_example
from ffrepro.data import TRAIN_SIZE
from ffrepro.experiments import cifar10
from ffrepro.figures import chapter, common, summary, supervised
from ffrepro.registry import EXPERIMENTS, get_experiment
from ffrepro.results import REPO_ROOT, SCHEMA_VERSION, result_path, write_result

BOOK = REPO_ROOT / "book"


def result(exp_id: str, profile: str, seed: int, error: float, seconds: float = 10.0, precision: str = "fp32") -> dict[str, Any]:
    """A results file of ``exp_id``'s real config at ``profile`` whose metric is ``error``."""
    exp = get_experiment(exp_id)
    split, mode = exp.metric.split(".")
    cfg = exp.config(profile)
    return {
        "schema_version": SCHEMA_VERSION, "experiment": exp_id, "profile": profile, "seed": seed, "complete": True,
        "epochs_done": cfg.optim.epochs, "config": cfg.to_dict(), "final": {split: {mode: error}},
        "history": [{"epoch": e + 1, "seconds": seconds} for e in range(cfg.optim.epochs)],
        "wall_time_s": {"train": seconds * cfg.optim.epochs, "evaluate": 5.0},
        "provenance": {"device": "cpu (x86_64, 2 threads)", "precision": precision},
    }


def write(root: Path, exp_id: str, profile: str, errors: list[float], **kw: Any) -> None:
    for seed, error in enumerate(errors):
        write_result(result_path(exp_id, profile, seed, root), result(exp_id, profile, seed, error, **kw))


def test_ff_flops_count_five_products_per_weight() -> None:
    cfg = FFConfig(hidden=(1000, 1000, 1000))
    weights = 784 * 1000 + 2 * 1000 * 1000
    readout = 2 * 2000 * 10
    assert ff_flops(784, cfg, supervised=True) == 2.0 * (5 * weights + readout)
    assert ff_flops(784, cfg, supervised=False) == 2.0 * 4 * weights
    phased = dataclasses.replace(cfg, schedule="phases", negative_labels="hard")
    assert ff_flops(784, phased, supervised=True) == 2.0 * (6 * weights + readout)


def test_every_entry_has_a_positive_flop_count() -> None:
    from ffrepro.registry import EXPERIMENTS

    for exp in EXPERIMENTS.values():
        assert train_flops_per_example(exp.config("paper")) > 0, exp.id


def test_achieved_throughput_divides_flops_by_seconds() -> None:
    r = result("mnist-ff-supervised", "cpu", 0, 1.7, seconds=20.0)
    cost = achieved(r)
    cfg = RunConfig.from_dict(r["config"])
    assert cost["seconds_per_epoch"] == 20.0
    assert cost["tflop_per_epoch"] == pytest.approx(train_flops_per_example(cfg) * 50_000 / 1e12)
    assert cost["tflops"] == pytest.approx(cost["tflop_per_epoch"] / 20.0)


def test_reproduce_box_names_the_commands_costs_and_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path / "results"))
    write(tmp_path / "results", "mnist-ff-supervised", "cpu", [1.7, 1.8], seconds=30.0)
    folder = tmp_path / "downloads"
    box = chapter.reproduce_box("mnist-ff-supervised", ["mnist-ff-supervised"], "cpu", folder=folder).data
    assert "python -m ffrepro run mnist-ff-supervised --profile cpu --seed 0" in box
    assert "--profile paper --seed 0 1 2" in box and "no results yet" in box
    runs = 2 * get_experiment("mnist-ff-supervised").config("cpu").optim.epochs
    assert f"{(runs * 30 + 2 * 5) / 60:.1f} min for 2 runs" in box
    assert 'href="../downloads/mnist-ff-supervised-results.zip"' in box
    with zipfile.ZipFile(folder / "mnist-ff-supervised-results.zip") as z:
        names = set(z.namelist())
    assert {"results/mnist-ff-supervised/cpu/seed0.json", "results/mnist-ff-supervised/cpu/seed1.json"} <= names
    assert "tables/paper-vs-reproduced.csv" in names and "tables/runs.csv" in names
    assert "mnist-ff-supervised" in (folder / "mnist-ff-supervised.csv").read_text()


def test_reproduce_box_of_a_study_and_of_a_page_without_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path / "results"))
    assert chapter.commands(["mnist-ff-sleep"], "cpu")[0].endswith("--with-variants")
    box = chapter.reproduce_box("ff-intro", [], "cpu", folder=tmp_path / "downloads").data
    assert "reads no results files" in box and "trains nothing" in box
    assert not (tmp_path / "downloads").exists()


def test_overview_figure_has_a_panel_per_data_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no results"):
        summary.overview_figure()
    write(tmp_path, "mnist-ff-supervised", "cpu", [1.7, 1.8])
    write(tmp_path, "cifar10-bp-2layers", "cpu", [45.0])
    fig = summary.overview_figure()
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["mnist-ff-supervised (cpu, 2 seeds)"]


def test_setting_comparison_picks_the_closest_to_the_paper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    write(tmp_path, "mnist-ff-supervised", "cpu", [1.9, 2.1])
    write(tmp_path, "mnist-ff-hard-negatives", "cpu", [1.5])
    table, verdict = supervised.setting_comparison("cpu")
    assert verdict["closest"] == "mnist-ff-hard-negatives" and verdict["settings"] == 2
    assert table.loc["mnist-ff-supervised", "distance (points)"] == pytest.approx(0.64)
    assert any(name.startswith("ffcode as reported") for name in table.index)
    assert table.loc["mnist-ff-supervised", "seeds"] == "2" and table.loc["mnist-ff-supervised", "ran on"]
    assert "mnist-ff-hard-negatives comes closest" in supervised.scale_verdict(verdict, "cpu")
    _, none = supervised.setting_comparison("paper")
    assert none["settings"] == 0 and "no paper-profile run" in supervised.scale_verdict(none, "paper")


@pytest.mark.parametrize("bf16, within", [([1.95, 2.05, 2.0], True), ([2.6, 2.7, 2.65], False)])
def test_precision_validation_uses_the_seeds_spread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bf16: list[float], within: bool) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    exp = "mnist-ff-hard-negatives"
    write(tmp_path, exp, "cpu", [1.9, 2.0, 2.1], seconds=20.0)
    with pytest.raises(FileNotFoundError, match="bf16"):
        common.precision_validation(exp, "bf16", "cpu")
    for seed, error in enumerate(bf16):
        r = result(exp, "cpu", seed, error, seconds=10.0, precision="bf16")
        r["config"] = get_experiment(f"{exp}/bf16").config("cpu").to_dict()
        write_result(result_path(f"{exp}/bf16", "cpu", seed, tmp_path), r)
    r = result(exp, "cpu", 3, 9.0, precision="bf16")  # a seed of the entry itself that ran in bf16 ("auto") is no fp32 seed
    write_result(result_path(exp, "cpu", 3, tmp_path), r)
    table, verdict = common.precision_validation(exp, "bf16", "cpu")
    assert verdict["within"] is within and verdict["allowed"] == pytest.approx(0.2) and verdict["fp32_seeds"] == 3
    assert verdict["speed_up"] == pytest.approx(2.0)
    assert list(table.index) == ["fp32", "bf16"]
    assert json.loads(json.dumps(verdict))  # plain values, for glue


def test_precision_at_another_scale_compares_speed_only_on_one_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    exp = "mnist-ff-hard-negatives"
    assert "No paper-profile run of the bf16 variant" in common.scale_precision_sentence(None, "paper", "mnist-ff-hard-negatives")
    write(tmp_path, exp, "paper", [1.5, 1.6, 1.4], seconds=6.0)
    for seed, error in enumerate([1.45, 1.55]):
        r = result(exp, "paper", seed, error, seconds=18.0, precision="bf16")
        r["config"] = get_experiment(f"{exp}/bf16").config("paper").to_dict()
        write_result(result_path(f"{exp}/bf16", "paper", seed, tmp_path), r)
    _, verdict = common.precision_validation(exp, "bf16", "paper")
    assert verdict["same_machine"] and verdict["variant_mean"] == pytest.approx(1.5) and verdict["fp32_mean"] == pytest.approx(1.5)
    same = common.scale_precision_sentence(verdict, "paper", "mnist-ff-hard-negatives")
    assert "**within**" in same and "an epoch in bf16 was 0.3 times as fast as in fp32" in same
    r = result(exp, "paper", 2, 1.5, seconds=18.0, precision="bf16")  # a third bf16 seed made on another machine (a GPU)
    r["config"], r["provenance"]["device"] = get_experiment(f"{exp}/bf16").config("paper").to_dict(), "NVIDIA H100 80GB HBM3"
    write_result(result_path(f"{exp}/bf16", "paper", 2, tmp_path), r)
    _, verdict = common.precision_validation(exp, "bf16", "paper")
    text = common.scale_precision_sentence(verdict, "paper", "mnist-ff-hard-negatives")
    assert not verdict["same_machine"] and "not made side by side" in text and "times as fast" not in text
    assert text.startswith("At the paper profile, 3 bf16 seed(s) give 1.50 % against 1.50 % for 3 fp32 seed(s): +0.00 points")


def test_precision_speed_is_compared_only_over_runs_made_side_by_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One VM's speed moves from day to day: an fp32 seed from an earlier commit (an earlier session) counts
    in the error comparison but not in the speed-up, which only the commits with runs of both precisions give."""
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    exp = "mnist-ff-hard-negatives"
    for seed, (commit, seconds) in enumerate([("old", 60.0), ("new", 20.0), ("new", 20.0)]):
        r = result(exp, "cpu", seed, 2.0, seconds=seconds)
        r["provenance"]["git_commit"] = commit
        write_result(result_path(exp, "cpu", seed, tmp_path), r)
    for seed in range(3):
        r = result(exp, "cpu", seed, 2.0, seconds=10.0, precision="bf16")
        r["config"], r["provenance"]["git_commit"] = get_experiment(f"{exp}/bf16").config("cpu").to_dict(), "new"
        write_result(result_path(f"{exp}/bf16", "cpu", seed, tmp_path), r)
    table, verdict = common.precision_validation(exp, "bf16", "cpu")
    assert verdict["same_machine"] and verdict["speed_up"] == pytest.approx(2.0) and verdict["fp32_seeds"] == 3
    assert table.loc["fp32", "s / epoch"] == pytest.approx(100 / 3, abs=0.1)  # the table keeps every seed's
    r = result(exp, "cpu", 1, 2.0, seconds=20.0)
    r["provenance"]["git_commit"] = "old"
    write_result(result_path(exp, "cpu", 1, tmp_path), r)
    r = result(exp, "cpu", 2, 2.0, seconds=20.0)
    r["provenance"]["git_commit"] = "old"
    write_result(result_path(exp, "cpu", 2, tmp_path), r)
    _, verdict = common.precision_validation(exp, "bf16", "cpu")  # no commit has runs of both
    assert not verdict["same_machine"] and "times as fast" not in common.scale_precision_sentence(verdict, "cpu", exp)


# --- The paper's numbers (issue 28 part 5): what the book cites about the paper lives in the package.

def test_marks_reads_every_mark_once() -> None:
    assert paper.marks("section 3.3, 1.36 % after 60 epochs (c)") == "c"
    assert paper.marks("Table 1: goodness 41 % (c), one-pass softmax 45 % (r)") == "c, r"
    assert paper.marks("(r) and again (r)") == "r"
    assert paper.marks("section 5: no numbers") == ""


def test_every_number_of_the_paper_carries_a_mark() -> None:
    table = paper.entries_table()
    assert list(table.index) == list(EXPERIMENTS)
    for e in EXPERIMENTS.values():
        if e.paper_value is not None:
            assert paper.marks(e.source), f"{e.id}: its source names the paper's number without (c) or (r)"
            assert f"{e.paper_value:g}" in table.loc[e.id, "paper's test error %"]
    # The CIFAR-10 entries state the marks of Table 1's cells they are compared with.
    for (learning, testing, depth), (_, (value, mark)) in cifar10.TABLE1.items():
        e = EXPERIMENTS[cifar10.entry_id(learning, depth)]
        assert re.search(rf"\b{value} %[^()]*\({mark}\)", e.source), (e.id, e.source)  # "41 % (c)", "37 % test error (c)"
        assert value == (e.also["test.softmax"] if testing == "softmax" else e.paper_value)


def test_table1_lists_every_cell_with_its_mark() -> None:
    table = paper.table1()
    assert len(table) == len(cifar10.TABLE1) == 10
    assert table["train %"].str.fullmatch(r"\d+ \((c|r)\)").all() and table["test %"].str.fullmatch(r"\d+ \((c|r)\)").all()
    assert set(table["registry entry"]) <= set(EXPERIMENTS)
    f = paper.page_facts()
    assert f["table1-cells"] == 20 and 0 < f["table1-confirmed"] < 20
    assert f["entries"] == len(EXPERIMENTS) and f["entries-with-number"] == sum(e.paper_value is not None for e in EXPERIMENTS.values())


def test_ffcode_settings_are_ffrepros_defaults_and_its_control() -> None:
    for key, (cls, name) in paper.FFCODE_DEFAULTS.items():
        assert getattr(cls(), name) == paper.FFCODE[key][0], f"ffrepro's default {cls.__name__}.{name} is not ffcode's {key}"
    control = EXPERIMENTS["mnist-ff-ffcode"].paper_config
    assert control.model.hidden == (paper.FFCODE["width"][0],) * paper.FFCODE["depth"][0]
    assert control.optim.epochs == paper.FFCODE["epochs"][0]
    assert control.model.negative_labels == paper.FFCODE["negative_labels"][0]
    assert facts.FFCODE == {k: paper.FFCODE[k][0] for k in ("depth", "width", "epochs")}
    assert paper.FFCODE["train_examples"][0] == TRAIN_SIZE
    table = paper.ffcode_table()
    assert len(table) == len(paper.FFCODE) and table.loc["learning rate, constant for the first half of the epochs, then linearly down to 0", "ffcode"] == "0.01"
    assert list(paper.ffcode_reported_table()["test error %"]) == ["1.44-1.47", "1.65", "1.33-1.34"]
    reproductions = paper.reproductions_table()
    assert len(reproductions) == len(paper.REPRODUCTIONS)
    assert list(reproductions["paper's number"]) == ["1.31 %", "41-46 %", "37-39 %", "1.31 %", "0.64 %"]  # from the registry and Table 1


def test_citation_facts_come_from_table1_and_the_reproductions() -> None:
    f = paper.citation_facts()
    assert (f["table1-ff-range"], f["table1-bp-range"], f["table1-bp-train-2"], f["table1-bp-train-3"]) == ("41-46", "37-39", 0, 2)
    assert (f["repro-recurrent-mnist"], f["repro-cifar-ff"], f["repro-cifar-bp"]) == (10.66, 77, 62)
    for r in paper.REPRODUCTIONS:
        assert (r.value is None) == (f"repro-{r.key}" not in f)
        assert r.value is None or f"{r.value:g} %" in r.result  # the number is the one its authors' words give


def test_the_paper_page_glues_only_its_facts() -> None:
    nb = read_source(BOOK / "notebooks" / "paper-numbers.md")
    text = "\n".join(c["source"] for c in nb["cells"] if c["cell_type"] == "markdown")
    keys = set(re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", text))
    assert keys and keys <= set(paper.page_facts()), keys - set(paper.page_facts())
    assert "executed/paper-numbers" in book_pages.toc()


# Files outside the repository that readers and clones cannot follow.
OUTSIDE = re.compile(r"\.\./shared\b|\bshared[/]|PAPER\.md|DATA\.md")


def test_nothing_cites_a_file_outside_the_repository() -> None:
    paths = [REPO_ROOT / "Makefile", REPO_ROOT / "README.md"]
    for folder, pattern in (("ffrepro", "*.py"), ("tests", "*.py"), ("book", "*.md"), ("book", "*.yml")):
        paths += sorted((REPO_ROOT / folder).rglob(pattern))
    cited = []
    for p in paths:
        rel = p.relative_to(REPO_ROOT).as_posix()
        if rel.startswith("book/_build") or rel.startswith("book/executed"):
            continue
        cited += [f"{rel}:{i}" for i, line in enumerate(p.read_text().splitlines(), 1) if OUTSIDE.search(line) and "OUTSIDE = re.compile" not in line]
    assert not cited, f"these lines cite a file outside the repository: {cited}"


def test_supervised_facts_state_every_number_the_chapter_glues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    entries = ["mnist-ff-supervised", "mnist-ff-supervised-fast", "mnist-ff-hard-negatives", "mnist-ff-ffcode"]
    results = {}
    for i, e in enumerate(entries):
        runs = []
        for seed in (0, 1):
            r = result(e, "cpu", seed, 1.5 + i / 10 + seed / 10)
            r["final"]["test"].update(softmax=2.0 + i, neutral_goodness=3.0 + i)
            write_result(result_path(e, "cpu", seed, tmp_path), r)
            runs.append(r)
        results[e] = runs
    f = supervised.facts(results, "cpu", [0, 1])
    assert (f["profile"], f["seeds"], f["n-test"]) == ("cpu", "0, 1", get_experiment(entries[0]).config("cpu").data.eval_examples or 10_000)
    assert f["mnist-ff-supervised-test-goodness"] == pytest.approx(1.55) and f["mnist-ff-ffcode-test-softmax"] == 5.0
    assert f["mnist-ff-supervised-paper"] == 1.36 and f["mnist-ff-supervised-status"] in {"PASS", "FAIL", "GAP"}
    assert (f["mnist-ff-ffcode-paper-layers"], f["mnist-ff-ffcode-paper-width"], f["mnist-ff-ffcode-paper-epochs"]) == (3, 1000, 100)
    assert (f["closest"], f["closest-error"], f["closest-of"]) == ("mnist-ff-supervised", pytest.approx(1.55), 3)
    assert "no paper-profile run" in f["paper-scale"] and "bf16-within" not in f
    sections = supervised.sections("cpu")
    assert [t is None for _, t in sections["paper-precision"]] == [True] and "No paper-profile run of the bf16" in sections["paper-precision"][0][0]
    assert len(sections["bench"]) == 1 and sections["bench"][0][0].startswith("No `make bench` run is saved here")
    assert supervised.tables("cpu")["validation"] is None and supervised.tables("paper")["paper-comparison"] is None
    exp = "mnist-ff-hard-negatives"
    for seed, error in enumerate([1.7, 1.8]):
        r = result(exp, "cpu", seed, error, seconds=15.0, precision="bf16")
        r["config"] = get_experiment(f"{exp}/bf16").config("cpu").to_dict()
        write_result(result_path(f"{exp}/bf16", "cpu", seed, tmp_path), r)
    f = supervised.facts(results, "cpu", [0, 1])
    assert (f["bf16-within"], f["bf16-seeds"], f["fp32-seeds"]) == ("within", 2, 2)
    assert f["bf16-speed-up"] == pytest.approx(10.0 / 15.0) and f["bf16-difference"] == pytest.approx(0.0)
    assert json.loads(json.dumps(f)) == f
    page = read_source(BOOK / "notebooks" / "mnist-ff-supervised.md")
    text = "\n".join(c["source"] for c in page["cells"] if c["cell_type"] == "markdown")
    glued = set(re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", text))
    assert glued <= set(f), glued - set(f)


def test_the_recurrent_chapter_shows_its_bf16_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ffrepro.figures import recurrent
    from ffrepro.methods import METHODS

    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    exp, variant = METHODS["ff-recurrent"].bf16_validation or ("", "")
    text, table = recurrent.precision_section("cpu")
    assert table is None and f"`python -m ffrepro run {exp}/{variant} --profile cpu --seed 0 1 2`" in text
    write(tmp_path, exp, "cpu", [2.0, 2.1, 1.9], seconds=40.0)
    for seed, error in enumerate([2.05, 1.95, 2.0]):
        r = result(exp, "cpu", seed, error, seconds=25.0, precision="bf16")
        r["config"] = get_experiment(f"{exp}/{variant}").config("cpu").to_dict()
        write_result(result_path(f"{exp}/{variant}", "cpu", seed, tmp_path), r)
    text, table = recurrent.precision_section("cpu")
    assert table is not None and list(table.index) == ["fp32", "bf16"]
    assert "3 bf16 seed(s) give 2.00 % against 2.00 % for 3 fp32 seed(s)" in text and "**within**" in text and "1.6 times as fast" in text
    assert f"Recurrent FF's bf16 is {METHODS['ff-recurrent'].bf16}" in text
