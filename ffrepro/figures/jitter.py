"""Figures and tables of the chapter on jittered MNIST (paper section 3.3 and its Figure 2).

The jitter gain of FF and of backprop (:func:`jitter_gain_table`), validation error over training
with and without jitter (:func:`jitter_curves`), and the first-layer receptive fields of a jittered
and an unjittered net side by side (:func:`fields_figure`, :func:`field_smoothness`). :func:`facts`
gives every number the chapter states and :func:`figures` its figures, so that the notebook only glues
them.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from ffrepro.book import Page
from ffrepro.data import MNIST_SIDE, NUM_CLASSES
from ffrepro.report import epochs_text
from ffrepro.figures.common import Result, mean_error, neighbour_correlation, per_epoch, short_hidden, summary_row
from ffrepro.registry import get_experiment
from ffrepro.report import metric_value
from ffrepro.results import load_results
from ffrepro.weights import unpack_weights


PAGES = (  # this module's pages of the book (ffrepro.book)
    Page('mnist-ff-jitter', 'trains the same net on jittered MNIST, with backprop on the same data beside it, and draws its receptive fields (section 3.3, Figure 2).', 40),
)

# (learner, entry without jitter, entry with jitter): the pairs whose difference is the jitter gain
PAIRS = (("FF", "mnist-ff-supervised", "mnist-ff-jitter"), ("BP", "mnist-bp-4x2000", "mnist-bp-jitter"))


def _test_error(results: Sequence[Result], exp_id: str) -> float:
    """The entry's checked metric, mean over the seeds."""
    metric = get_experiment(exp_id).metric
    return statistics.fmean(metric_value(r, metric) for r in results)


def jitter_gain_table(profile: str, seeds: Sequence[int] | None = None) -> pd.DataFrame:
    """Test error without and with jitter, and the gain (points; positive = jitter helps), per learner,
    mean over the seeds on disk (or ``seeds``). A learner without both results is left out."""
    rows = []
    for learner, plain_id, jitter_id in PAIRS:
        plain, jittered = (
            [r for r in load_results(e, profile) if seeds is None or r["seed"] in seeds] for e in (plain_id, jitter_id)
        )
        if not plain or not jittered:
            continue
        a, b = _test_error(plain, plain_id), _test_error(jittered, jitter_id)
        complete = all(r["complete"] for r in (*plain, *jittered))
        rows.append({
            "learner": learner,
            "without jitter": plain_id,
            "epochs": epochs_text(plain),
            "test error (%)": round(a, 2),
            "with jitter": jitter_id,
            "epochs ": epochs_text(jittered),
            "test error (%) ": round(b, 2),
            "gain (points)": round(a - b, 2),
            "seeds": f"{len(plain)} / {len(jittered)}",
            "complete": "yes" if complete else "no (PARTIAL)",
        })
    return pd.DataFrame(rows).set_index("learner") if rows else pd.DataFrame()


def jitter_curves(results: Mapping[str, Sequence[Result]]) -> Figure:
    """Validation error per epoch, without and with jitter: FF (softmax readout) and BP, one line per seed.

    ``results``: entry id -> its results, for the entries of :data:`PAIRS` that are available.
    """
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, (learner, plain_id, jitter_id) in zip(axes, PAIRS):
        for exp_id, color in ((plain_id, "C0"), (jitter_id, "C1")):
            rs = results.get(exp_id)
            if not rs:
                continue
            key = "val_error" if learner == "BP" else "val_error_softmax"
            epochs, err = per_epoch(rs, key)
            for curve in err:
                ax.plot(epochs, curve, color=color, lw=1, alpha=0.8)
            ax.plot([], [], color=color, label=f"{exp_id} ({len(rs)} seed{'s' if len(rs) > 1 else ''})")
        ax.set(title=f"{learner}: validation error" + (", softmax readout" if learner == "FF" else ""), xlabel="epoch", ylabel="error (%)")
        ax.set_yscale("log")
        for axis in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
            axis(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    return fig


def first_layer_weights(result: Result) -> np.ndarray:
    """The first-layer weight rows a supervised FF result keeps, as images: (units, 28, 28)."""
    packed = result["extras"]["first_layer_weights"]
    return unpack_weights(packed).numpy().reshape(-1, MNIST_SIDE, MNIST_SIDE)


def field_smoothness(fields: np.ndarray) -> float:
    """Mean :func:`~ffrepro.figures.common.neighbour_correlation` of fields (F, 28, 28), the top row
    (which holds the label pixels) left out."""
    return float(np.mean([neighbour_correlation(f[1:]) for f in fields]))


def fields_figure(results: Mapping[str, Result], n: int = 100, ncols: int = 10) -> Figure:
    """The paper's Figure 2 and its unjittered counterpart: the first ``n`` first-layer units of each
    net, each as a 28 x 28 image of its weights on its own scale centred at 0 (red positive, blue
    negative); the black outline marks the 10 label pixels at the left of the top row.

    ``results``: title -> one result whose extras hold ``first_layer_weights``.
    """
    nrows = -(-n // ncols)
    fig = Figure(figsize=(6.4, 6.9 * len(results)), layout="constrained")  # one above the other: larger fields
    panels = np.atleast_1d(fig.subfigures(len(results), 1, hspace=0.03))
    for panel, (title, result) in zip(panels, results.items()):
        fields = first_layer_weights(result)[:n]
        axes = panel.subplots(nrows, ncols, squeeze=False, gridspec_kw=dict(wspace=0.05, hspace=0.05)).ravel()
        for ax in axes[len(fields):]:
            ax.set_visible(False)
        for ax, f in zip(axes, fields):
            vmax = float(np.abs(f).max()) or 1.0
            ax.imshow(f, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.add_patch(Rectangle((-0.5, -0.5), NUM_CLASSES, 1, fill=False, ec="k", lw=0.4))
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        panel.suptitle(title, fontsize="medium")
    return fig


FIELDS = ("mnist-ff-jitter", "mnist-ff-supervised")  # the nets whose first-layer fields the chapter compares


def facts(results: Mapping[str, Sequence[Result]], profile: str, seeds: Sequence[int]) -> dict[str, Any]:
    """Every number the jitter chapter states, keyed by its glue name (``results``: entry -> runs at
    ``profile``, the four entries of :data:`PAIRS`).

    Keys: ``profile``, ``seeds``; the paper's jittered FF net (``ff-depth``, ``ff-width``, ``jitter``:
    the largest shift, ``shifts``: how many there are, ``jitter-epochs``, ``jitter-passes``,
    ``views-per-shift``: how often each shift of an image is shown in all) and the BP epochs without
    and with jitter; per entry ``ID-paper`` (NaN where the paper gives none), ``ID-epochs``,
    ``ID-hidden``, ``ID-status``, ``ID-test``; the jitter gains (``ff-gain``, ``bp-gain``) and the
    smoothness of the first-layer fields of :data:`FIELDS` (``ID-smoothness``, first seed)."""
    paper_ff = get_experiment("mnist-ff-jitter").paper_config
    shifts = (2 * paper_ff.data.jitter + 1) ** 2
    out: dict[str, Any] = {
        "profile": profile,
        "seeds": ", ".join(map(str, seeds)),
        "ff-depth": len(paper_ff.model.hidden),
        "ff-width": paper_ff.model.hidden[0],
        "jitter": paper_ff.data.jitter,
        "shifts": shifts,
        "jitter-epochs": paper_ff.optim.epochs,
        "jitter-passes": paper_ff.data.jitter_passes,
        "views-per-shift": round(paper_ff.optim.epochs * paper_ff.data.jitter_passes / shifts),
        "bp-epochs": get_experiment("mnist-bp-4x2000").paper_config.optim.epochs,
        "bp-jitter-epochs": get_experiment("mnist-bp-jitter").paper_config.optim.epochs,
    }
    for e, rs in results.items():
        exp = get_experiment(e)
        out[f"{e}-paper"] = exp.paper_value if exp.paper_value is not None else float("nan")
        out[f"{e}-epochs"] = rs[0]["config"]["optim"]["epochs"]
        out[f"{e}-hidden"] = short_hidden("x".join(map(str, rs[0]["config"]["model"]["hidden"])))
        out[f"{e}-status"] = summary_row(e, profile)["status"]
        split, mode = exp.metric.split(".")
        out[f"{e}-test"] = mean_error(rs, split, mode)
    gains = jitter_gain_table(profile, seeds)
    out["ff-gain"], out["bp-gain"] = float(gains.loc["FF", "gain (points)"]), float(gains.loc["BP", "gain (points)"])
    for e in FIELDS:
        out[f"{e}-smoothness"] = field_smoothness(first_layer_weights(results[e][0]))
    return out


def figures(results: Mapping[str, Sequence[Result]]) -> dict[str, Figure]:
    """The chapter's figures by glue name: validation error with and without jitter
    (``fig-jitter-curves``) and the first-layer fields of :data:`FIELDS`' first seeds (``fig-fields``)."""
    jittered, plain = (results[e][0] for e in FIELDS)
    return {
        "fig-jitter-curves": jitter_curves(results),
        "fig-fields": fields_figure({f"with jitter ({FIELDS[0]}, seed {jittered['seed']})": jittered,
                                     f"without jitter ({FIELDS[1]}, seed {plain['seed']})": plain}),
    }
