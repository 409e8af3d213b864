"""Tables of the book's first page and of its "All results" page.

The first page opens with a picture of every experiment's error against the paper's
(:func:`overview_figure`) and shows one row per experiment, at the best profile that has results
(:func:`front_page_table`, chosen by :func:`ffrepro.report.best_check`). The "All results" page shows
every profile: :func:`ffrepro.figures.common.overview_table` and :func:`ffrepro.figures.common.runs_table`,
the tables each chapter shows for its own experiments.
"""

from __future__ import annotations

from pathlib import Path

import statistics
from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ffrepro.book import Page
from ffrepro.figures.common import OVERVIEW_COLUMNS, short_hidden
from ffrepro.registry import EXPERIMENTS
from ffrepro.report import best_check, check_all, front_page_rows, mean_std_text
from ffrepro.results import results_root


PAGES = (  # this module's pages of the book (ffrepro.book)
    Page('summary', 'lists every result on disk at every profile, with its seeds, device, precision and run time.', 140),
)


def front_page_table(exp_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Paper vs reproduced, one row per experiment with results, indexed by experiment: the paper
    profile if complete, else cpu, else unfinished runs (status PARTIAL), else smoke (status
    "smoke"). "ours %" is the seeds' mean ± sample standard deviation and their number (text).
    Columns :data:`~ffrepro.figures.common.OVERVIEW_COLUMNS`; raises if no experiment has results."""
    rows = front_page_rows(None if exp_ids is None else list(exp_ids))
    if not rows:
        raise FileNotFoundError(f"no results under {results_root()}. Produce them with `python -m ffrepro run all --profile cpu`.")
    table = pd.DataFrame(rows)[OVERVIEW_COLUMNS]
    return table.assign(hidden=table["hidden"].map(short_hidden)).set_index("experiment")


def known_gaps_table() -> pd.DataFrame:
    """Every (experiment, profile) on disk whose result misses the paper's number beyond the tolerance
    and has the registry's explanation (status GAP): ours, the paper's, the gap's bound (a miss beyond
    it fails) and why. Empty if none."""
    rows = [
        {"experiment": c.experiment, "profile": c.profile, "ours %": mean_std_text(c.values), "paper %": c.paper, "tolerance": f"±{c.tolerance}",
         "bound": f"±{c.gap.bound}" if c.gap else "", "what we know": c.gap_note}
        for c in check_all(("cpu", "paper"), results_root())
        if c.status == "GAP"
    ]
    return pd.DataFrame(rows).set_index(["experiment", "profile"]) if rows else pd.DataFrame()


STATUS_COLORS = {"PASS": "tab:green", "GAP": "tab:orange", "FAIL": "tab:red", "PARTIAL": "tab:gray", "n/a": "tab:blue", "smoke": "tab:purple"}


def write_front_page(output: str | Path, exp_ids: Sequence[str] | None = None) -> None:
    """The first page's table (:func:`front_page_table`, as CSV at ``output``, which ``intro.md``
    includes) and its picture (:func:`overview_figure`, ``overview.svg`` beside it)."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    front_page_table(exp_ids).to_csv(output)
    overview_figure(exp_ids).savefig(output.with_name("overview.svg"))


def overview_figure(exp_ids: Sequence[str] | None = None) -> Figure:
    """The first page's picture: every experiment's test error at its best available profile (the
    same choice as :func:`front_page_table`): each seed (small dots) and their mean with one standard
    deviation either side (bar), coloured by status, against the paper's number (black tick) and its
    tolerance band at that profile (grey). One panel per data set, each on its own scale."""
    checks = [c for exp in EXPERIMENTS.values() if exp_ids is None or exp.id in exp_ids if (c := best_check(exp)) is not None]
    if not checks:
        raise FileNotFoundError(f"no results under {results_root()}. Produce them with `python -m ffrepro run all --profile cpu`.")
    panels = {name: [c for c in checks if EXPERIMENTS[c.experiment].paper_config.data.dataset == name] for name in ("mnist", "cifar10")}
    panels = {k: v for k, v in panels.items() if v}
    heights = [len(v) for v in panels.values()]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8.5, 0.34 * sum(heights) + 1.6 * len(panels)), gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (name, rows) in zip(axes[:, 0], panels.items()):
        for y, c in enumerate(reversed(rows)):
            color = STATUS_COLORS.get(c.status if c.profile != "smoke" else "smoke", "black")
            if c.paper is not None:
                if c.tolerance is not None:
                    ax.add_patch(Rectangle((c.paper - c.tolerance, y - 0.32), 2 * c.tolerance, 0.64, color="0.85", zorder=0))
                ax.plot([c.paper, c.paper], [y - 0.36, y + 0.36], color="black", lw=2, zorder=2)
            spread = statistics.stdev(c.values) if len(c.values) > 1 else 0.0
            ax.errorbar(c.mean, y, xerr=spread, fmt="o", color=color, ms=6, capsize=3, zorder=3)
            ax.plot(c.values, [y] * len(c.values), ".", color=color, ms=3, alpha=0.6, zorder=3)
        labels = [f"{c.experiment} ({c.profile}{', ' + str(len(c.values)) + ' seeds' if len(c.values) > 1 else ''})" for c in reversed(rows)]
        ax.set_yticks(range(len(rows)), labels, fontsize="small")
        ax.set_ylim(-0.7, len(rows) - 0.3)
        values = [v for c in rows for v in (*c.values, *([c.paper] if c.paper is not None else []))]
        if max(values) > 10 * min(values):  # e.g. smoke runs beside paper-scale ones: a log scale keeps both readable
            ax.set_xscale("log")
        ax.set_xlabel(f"{'MNIST' if name == 'mnist' else 'CIFAR-10'} test error (%)")
        ax.grid(axis="x", alpha=0.3)
    handles = [Line2D([], [], color="black", lw=2, label="paper"), Rectangle((0, 0), 1, 1, color="0.85", label="tolerance")]
    shown = sorted({c.status if c.profile != "smoke" else "smoke" for c in checks})
    handles += [Line2D([], [], marker="o", ls="", color=STATUS_COLORS[s], label=f"ours: {s}") for s in shown if s in STATUS_COLORS]
    axes[0, 0].legend(handles=handles, loc="lower right", fontsize="x-small", ncol=2, framealpha=0.9)
    fig.tight_layout()
    return fig


def hours_section() -> tuple[str, pd.DataFrame | None]:
    """The CPU-hours the paper profile still needs (:mod:`ffrepro.hours`, the README's table) at the rates
    of the committed CPU bench run: its caption and table, or a sentence saying why it cannot be priced."""
    from ffrepro import bench
    from ffrepro.hours import hours_caption, hours_text_rows
    from ffrepro.results import ResultsError

    try:
        run = bench.load("cpu")
    except ResultsError as exc:
        return f"No readable `make bench` run of a CPU is on disk, so the hours cannot be priced ({exc}).", None
    return hours_caption(run), pd.DataFrame(hours_text_rows(run)).set_index("entry")


def known_gaps_markdown() -> str:
    """:func:`known_gaps_table` as the "All results" page states it: one bullet per known gap (ours,
    the paper's number, the tolerance, the bound and what we know), or a sentence that there is none."""
    gaps = known_gaps_table()
    if not len(gaps):
        return "No known gaps among the results on disk."
    return "\n".join(f"- **{e}** ({p}), test error in %: ours {r['ours %']}, paper {r['paper %']}, tolerance {r['tolerance']}, "
                     f"bound {r['bound']}. {r['what we know']}" for (e, p), r in gaps.iterrows())
