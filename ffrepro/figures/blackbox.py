"""The black-box page (issues 11, 31): FF and backprop with and without a box they cannot differentiate.

:func:`errors_table` and :func:`cost_table` are the page's tables; :func:`facts` every number and the
verdict its text states, so that the notebook only glues them. The verdict is about what the box costs
each learner (its test error with the box minus without, with that difference's uncertainty), not about
which learner is more accurate with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import statistics

import pandas as pd

from ffrepro.book import Page
from ffrepro.figures.common import MODE_NAMES, Result, mean_error, versus


PAGES = (  # this module's pages of the book (ffrepro.book)
    Page('blackbox', 'puts a step no learner can differentiate inside the net and measures what FF and backprop (blocked, or with a straight-through gradient) make of it.', 110),
)

# (entry or variant, learner, box) in the order of the table; the metric is each learner's test
RUNS = (
    ("mnist-ff-blackbox/no-box", "FF", "none", "goodness"),
    ("mnist-ff-blackbox", "FF", "black box", "goodness"),
    ("mnist-ff-blackbox/scrambled", "FF", "scrambled box", "goodness"),
    ("mnist-bp-blackbox/no-box", "backprop", "none", "bp"),
    ("mnist-bp-blackbox", "backprop", "black box, gradient blocked", "bp"),
    ("mnist-bp-blackbox/straight-through", "backprop", "black box, straight-through gradient", "bp"),
    ("mnist-bp-blackbox/scrambled-straight-through", "backprop", "scrambled box, straight-through gradient", "bp"),
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


# What the box costs each learner: (learner, box, the run with it, the run without it, the test modes)
COSTS = (
    ("FF", "black box", "mnist-ff-blackbox", "mnist-ff-blackbox/no-box", ("goodness", "softmax", "neutral_goodness")),
    ("FF", "scrambled box", "mnist-ff-blackbox/scrambled", "mnist-ff-blackbox/no-box", ("goodness", "softmax", "neutral_goodness")),
    ("backprop", "gradient blocked", "mnist-bp-blackbox", "mnist-bp-blackbox/no-box", ("bp",)),
    ("backprop", "straight-through gradient", "mnist-bp-blackbox/straight-through", "mnist-bp-blackbox/no-box", ("bp",)),
    ("backprop", "scrambled box, straight-through gradient", "mnist-bp-blackbox/scrambled-straight-through", "mnist-bp-blackbox/no-box", ("bp",)),
)


def cost(with_box: Sequence[Result], without: Sequence[Result], mode: str, n_test: int) -> tuple[float, float]:
    """What the box costs in test error of ``mode``: the mean over seeds with it minus the mean without it
    (points; negative: a gain), and the standard error of that difference: the binomial one of two error
    rates on ``n_test`` images a seed, or, where both sides have two seeds or more and their spread is
    larger, the seeds' own."""
    a, b = ([r["final"]["test"][mode] for r in runs] for runs in (with_box, without))
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    binomial = (ma / 100 * (1 - ma / 100) / (n_test * len(a)) + mb / 100 * (1 - mb / 100) / (n_test * len(b))) ** 0.5 * 100
    seeds = (statistics.variance(a) / len(a) + statistics.variance(b) / len(b)) ** 0.5 if len(a) > 1 and len(b) > 1 else 0.0
    return ma - mb, max(binomial, seeds)


def _reading(points: float, se: float) -> str:
    return "none measurable" if abs(points) <= 2 * se else "a cost" if points > 0 else "a gain"


def cost_table(results: Mapping[str, Sequence[Result]], n_test: int) -> pd.DataFrame:
    """The box's cost to each learner and test mode (:func:`cost`): test error without and with the box, the
    difference and two standard errors of it (points), and what it reads as (within two standard errors
    of nothing: "none measurable")."""
    rows = {}
    for learner, box, with_id, without_id, modes in COSTS:
        for mode in modes:
            points, se = cost(results[with_id], results[without_id], mode, n_test)
            rows[(learner, box, MODE_NAMES[mode])] = {
                "without (%)": round(mean_error(results[without_id], "test", mode), 2), "with (%)": round(mean_error(results[with_id], "test", mode), 2),
                "cost (points)": round(points, 2), "± 2 SE": round(2 * se, 2), "reads as": _reading(points, se)}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=["learner", "box", "test"])
    return out


def _apart(cheaper: tuple[float, float], dearer: tuple[float, float]) -> bool:
    """Whether the first (points, standard error) cost is smaller than the second by more than two standard
    errors of their difference."""
    return dearer[0] - cheaper[0] > 2 * (cheaper[1] ** 2 + dearer[1] ** 2) ** 0.5


def _costs(a: str, cost_a: tuple[float, float], b: str, cost_b: tuple[float, float]) -> str:
    return f"{cost_a[0]:+.2f} ± {2 * cost_a[1]:.2f} points for {a}, {cost_b[0]:+.2f} ± {2 * cost_b[1]:.2f} for {b}"


def verdict(ff: tuple[float, float], blocked: tuple[float, float]) -> str:
    """The page's conclusion on the claim that a black box does not stop FF while it stops backprop, from
    what the box costs FF by goodness (the paper's test) and backprop whose gradient it blocks, each
    (points, standard error): the claim holds where FF's cost is smaller than backprop's by more than two
    standard errors of the two costs' difference."""
    apart, ff_free = _apart(ff, blocked), abs(ff[0]) <= 2 * ff[1]
    costs = _costs("FF", ff, "backprop without the box's derivative", blocked)
    if apart and ff_free:
        return f"So the claim holds: the box costs FF nothing measurable and costs backprop without its derivative far more ({costs})."
    if apart:
        return f"So FF learns through the box at a measurable cost, but a smaller one than backprop without its derivative pays ({costs})."
    if ff_free:
        return f"So the box costs FF nothing measurable, but it costs backprop without its derivative no more, to within the uncertainty ({costs}): the claim is not shown here."
    return f"So at this scale the claim does not hold: the box costs FF no less than it costs backprop without its derivative ({costs})."


def surrogate_verdict(ff: tuple[float, float], straight_through: tuple[float, float]) -> str:
    """What the scrambled box shows: whether a wrong surrogate derivative costs backprop more than the box
    costs FF (each (points, standard error), as :func:`verdict` judges)."""
    costs = _costs("FF", ff, "backprop with the identity as its surrogate", straight_through)
    if _apart(ff, straight_through):
        return f"With a box whose derivative the identity does not approximate, the straight-through gradient no longer rescues backprop: the scrambled box costs it more than it costs FF ({costs})."
    return f"Even with a box whose derivative the identity does not approximate, the straight-through gradient keeps backprop's cost no larger than FF's, to within the uncertainty ({costs})."


def facts(results: Mapping[str, Sequence[Result]], profile: str, seeds: Sequence[int]) -> dict[str, Any]:
    """Every number and verdict the black-box page states, keyed by its glue name (``results``: every
    run of :data:`RUNS` at ``profile``): the box's place (``box-after``, ``box-next``), the net
    (``depth``, ``width``) and epochs of both learners, the test error of each run (``ff-box``,
    ``ff-free``, ``bp-free``, ``bp-blocked``, ``bp-st``), how they compare on ``n-test`` images
    (``*-versus``); what the box costs each learner (:func:`cost`: ``ff-cost``, ``ff-cost-softmax``,
    ``ff-cost-neutral``, ``bp-blocked-cost``, ``bp-st-cost``, and of the scrambled box ``ff-scrambled-cost``
    and ``bp-scrambled-st-cost``, in points, each with two standard errors as ``...-2se``), the ``verdict``
    drawn from those costs and the ``surrogate-verdict`` from the scrambled box's."""
    ff_cfg, bp_cfg = results["mnist-ff-blackbox"][0]["config"], results["mnist-bp-blackbox"][0]["config"]
    n_test = ff_cfg["data"]["eval_examples"] or 10_000
    test = errors_table(results)["test error (%)"]
    errors = {
        "ff-box": float(test[("FF", "black box")]),
        "ff-free": float(test[("FF", "none")]),
        "bp-free": float(test[("backprop", "none")]),
        "bp-blocked": float(test[("backprop", "black box, gradient blocked")]),
        "bp-st": float(test[("backprop", "black box, straight-through gradient")]),
        "ff-scrambled": float(test[("FF", "scrambled box")]),
        "bp-scrambled-st": float(test[("backprop", "scrambled box, straight-through gradient")]),
    }
    ff_versus = versus(errors["ff-box"], errors["ff-free"], n_test)
    costs = {
        "ff-cost": cost(results["mnist-ff-blackbox"], results["mnist-ff-blackbox/no-box"], "goodness", n_test),
        "ff-cost-softmax": cost(results["mnist-ff-blackbox"], results["mnist-ff-blackbox/no-box"], "softmax", n_test),
        "ff-cost-neutral": cost(results["mnist-ff-blackbox"], results["mnist-ff-blackbox/no-box"], "neutral_goodness", n_test),
        "bp-blocked-cost": cost(results["mnist-bp-blackbox"], results["mnist-bp-blackbox/no-box"], "bp", n_test),
        "bp-st-cost": cost(results["mnist-bp-blackbox/straight-through"], results["mnist-bp-blackbox/no-box"], "bp", n_test),
        "ff-scrambled-cost": cost(results["mnist-ff-blackbox/scrambled"], results["mnist-ff-blackbox/no-box"], "goodness", n_test),
        "bp-scrambled-st-cost": cost(results["mnist-bp-blackbox/scrambled-straight-through"], results["mnist-bp-blackbox/no-box"], "bp", n_test),
    }
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
        "ff-box-versus-bp-blocked": versus(errors["ff-box"], errors["bp-blocked"], n_test),
        "ff-box-versus-bp-st": versus(errors["ff-box"], errors["bp-st"], n_test),
        "n-test": n_test,
        **{name: points for name, (points, _) in costs.items()},
        **{f"{name}-2se": 2 * se for name, (_, se) in costs.items()},
        "verdict": verdict(costs["ff-cost"], costs["bp-blocked-cost"]),
        "surrogate-verdict": surrogate_verdict(costs["ff-scrambled-cost"], costs["bp-scrambled-st-cost"]),
    }
