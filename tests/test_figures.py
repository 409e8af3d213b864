"""The first page's table (best profile per experiment, mean ± std over seeds), the FF loss curves of
old and new results, and the layering of :mod:`ffrepro.figures`, on tiny synthetic results."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

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
    """No core module imports ffrepro.figures; chapter modules import common, never each other."""
    package = REPO_ROOT / "ffrepro"
    for path in package.rglob("*.py"):
        if "figures" not in path.relative_to(package).parts:
            assert not any(m.startswith("ffrepro.figures") for m in imported_ffrepro_modules(path)), path
    chapters = {p.stem for p in (package / "figures").glob("*.py")} - {"__init__", "common"}
    for name in chapters:
        imported = imported_ffrepro_modules(package / "figures" / f"{name}.py")
        assert not {f"ffrepro.figures.{c}" for c in chapters} & imported, name
