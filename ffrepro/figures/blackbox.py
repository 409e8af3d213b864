"""The black-box page (issue 11): FF and backprop with and without a box they cannot differentiate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ffrepro.figures.common import Result, mean_error

# (entry or variant, learner, box) in the order of the table; the metric is each learner's test
RUNS = (
    ("mnist-ff-blackbox/no-box", "FF", "none", "goodness"),
    ("mnist-ff-blackbox", "FF", "black box", "goodness"),
    ("mnist-bp-blackbox/no-box", "backprop", "none", "bp"),
    ("mnist-bp-blackbox", "backprop", "black box, gradient blocked", "bp"),
    ("mnist-bp-blackbox/straight-through", "backprop", "black box, straight-through gradient", "bp"),
)


def errors_table(results: Mapping[str, Sequence[Result]]) -> pd.DataFrame:
    """Train and test error (%) of every run, mean over seeds: index (learner, box)."""
    rows = {}
    for exp_id, learner, box, mode in RUNS:
        rows[(learner, box)] = {split: round(mean_error(results[exp_id], split, mode), 2) for split in ("train", "test")}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=["learner", "between layers 2 and 3"])
    out.columns = ["train error (%)", "test error (%)"]
    return out
