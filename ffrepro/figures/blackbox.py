"""The black-box page (issue 11): FF and backprop with and without a box they cannot differentiate.

:func:`errors_table` is the page's table; :func:`facts` every number and the verdict its text
states, so that the notebook only glues them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ffrepro.book import Page
from ffrepro.figures.common import Result, mean_error, versus


PAGES = (  # this module's pages of the book (ffrepro.book)
    Page('blackbox', 'puts a step no learner can differentiate inside the net and measures what FF and backprop (blocked, or with a straight-through gradient) make of it.', 110),
)

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


def verdict(ff_box_vs_free: str, ff_box_vs_blocked: str) -> str:
    """The page's conclusion on the claim that a black box does not stop FF, from two comparisons
    (:func:`ffrepro.figures.common.versus`): FF with the box against FF without it, and against
    backprop whose gradient the box blocks."""
    if ff_box_vs_free != "worse than" and ff_box_vs_blocked == "better than":
        return "So the claim holds: FF needs no derivative of the box, and backprop without one is left with the layers above it."
    if ff_box_vs_blocked == "better than":
        return "So FF learns through the box, though it loses some accuracy to it, and beats backprop without a derivative of the box."
    return "So at this scale the claim does not hold: FF with the box does no better than backprop training only the layers above it."


def facts(results: Mapping[str, Sequence[Result]], profile: str, seeds: Sequence[int]) -> dict[str, Any]:
    """Every number and verdict the black-box page states, keyed by its glue name (``results``: every
    run of :data:`RUNS` at ``profile``): the box's place (``box-after``, ``box-next``), the net
    (``depth``, ``width``) and epochs of both learners, the test error of each run (``ff-box``,
    ``ff-free``, ``bp-free``, ``bp-blocked``, ``bp-st``), how they compare on ``n-test`` images
    (``*-versus``) and the ``verdict``."""
    ff_cfg, bp_cfg = results["mnist-ff-blackbox"][0]["config"], results["mnist-bp-blackbox"][0]["config"]
    n_test = ff_cfg["data"]["eval_examples"] or 10_000
    test = errors_table(results)["test error (%)"]
    errors = {
        "ff-box": float(test[("FF", "black box")]),
        "ff-free": float(test[("FF", "none")]),
        "bp-free": float(test[("backprop", "none")]),
        "bp-blocked": float(test[("backprop", "black box, gradient blocked")]),
        "bp-st": float(test[("backprop", "black box, straight-through gradient")]),
    }
    ff_versus = versus(errors["ff-box"], errors["ff-free"], n_test)
    box_versus_blocked = versus(errors["ff-box"], errors["bp-blocked"], n_test)
    return {
        "profile": profile,
        "seeds": ", ".join(map(str, seeds)),
        "box-after": ff_cfg["model"]["black_box_after"],
        "box-next": ff_cfg["model"]["black_box_after"] + 1,
        "depth": len(ff_cfg["model"]["hidden"]),
        "width": ff_cfg["model"]["hidden"][0],
        "epochs-ff": ff_cfg["optim"]["epochs"],
        "epochs-bp": bp_cfg["optim"]["epochs"],
        **errors,
        "ff-versus": ff_versus,
        "st-versus": versus(errors["bp-st"], errors["bp-free"], n_test),
        "ff-box-versus-bp-blocked": box_versus_blocked,
        "ff-box-versus-bp-st": versus(errors["ff-box"], errors["bp-st"], n_test),
        "n-test": n_test,
        "verdict": verdict(ff_versus, box_versus_blocked),
    }
