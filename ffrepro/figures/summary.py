"""Tables of the book's first page and of its "All results" page.

The first page shows one row per experiment, at the best profile that has results
(:func:`front_page_table`, chosen by :func:`ffrepro.report.best_check`). The "All results" page shows
every profile: :func:`ffrepro.figures.common.overview_table` and :func:`ffrepro.figures.common.runs_table`,
the tables each chapter shows for its own experiments.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ffrepro.figures.common import OVERVIEW_COLUMNS, short_hidden
from ffrepro.report import check_all, front_page_rows, mean_std_text
from ffrepro.results import results_root


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
    and has the registry's explanation (status GAP): ours, the paper's, and why. Empty if none."""
    rows = [
        {"experiment": c.experiment, "profile": c.profile, "ours %": mean_std_text(c.values), "paper %": c.paper, "tolerance": f"±{c.tolerance}", "what we know": c.gap_note}
        for c in check_all(("cpu", "paper"), results_root())
        if c.status == "GAP"
    ]
    return pd.DataFrame(rows).set_index(["experiment", "profile"]) if rows else pd.DataFrame()
