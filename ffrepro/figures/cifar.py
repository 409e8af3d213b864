"""Figures and tables of the CIFAR-10 chapter (paper section 4, Table 1).

Table 1 regenerated from the six nets' results beside the paper's cells (:func:`table1`), the
learning curves of the six nets (:func:`learning_curves`), and a few first-layer receptive fields,
11 x 11 x 3 patches drawn in colour (:func:`receptive_fields`), what each net costs
(:func:`cost_table`, from :mod:`ffrepro.cost`), and every number the chapter's text states
(:func:`facts`), so that the notebook only glues them.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ffrepro.book import Page
from ffrepro.paper import citation_facts
from ffrepro.cost import INPUTS, epoch_examples, train_flops_per_example
from ffrepro.data import CIFAR10_TRAIN_SIZE
from ffrepro.experiments.cifar10 import TABLE1, entry_id
from ffrepro.ff import image_shape
from ffrepro.figures.common import Result, mean_error, per_epoch
from ffrepro.local import LocalSpec
from ffrepro.registry import get_experiment
from ffrepro.report import check_results
from ffrepro.weights import unpack_weights


PAGES = (  # this module's pages of the book (ffrepro.book)
    Page('cifar10-table1', 'regenerates Table 1: locally connected recurrent FF nets with two goodness functions and two tests, against backprop on the same maps, on CIFAR-10 (section 4).', 80),
)

# Table 1's tests: result mode, and the short name the regenerated table gives it
TESTS = {"": ("bp", ""), "goodness": ("goodness", "every label"), "softmax": ("softmax", "one-pass softmax")}


def _cell(values: Sequence[float]) -> str:
    """Mean over seeds, with the spread where there are several: "43.1" or "43.1 ± 0.4"."""
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.fmean(values):.1f} ± {statistics.stdev(values):.1f}"


def table1(results: Mapping[str, Sequence[Result]], profile: str) -> pd.DataFrame:
    """Table 1 with our train and test error (%) beside the paper's, in the paper's row order (the
    test "every label" is the paper's "compute goodness for every label").

    ``results``: registry id -> that net's results (one per seed) of ``profile``; rows of nets
    without results are left out. The paper's cells carry (c) confirmed or (r) recalled. The status
    is the tolerance check of :mod:`ffrepro.report` on that cell's test metric (PASS, FAIL or GAP;
    "n/a" where the profile is not compared, PARTIAL while a seed is unfinished).
    """
    rows = []
    for (learning, testing, depth), ((p_train, m_train), (p_test, m_test)) in TABLE1.items():
        exp_id = entry_id(learning, depth)
        runs = results.get(exp_id)
        if not runs:
            continue
        mode, name = TESTS[testing]
        train = [r["final"]["train"][mode] for r in runs]
        check = check_results(get_experiment(exp_id), profile, list(runs), f"test.{mode}")
        assert check is not None  # runs is not empty
        rows.append(
            {
                "layers": depth,
                "learning": learning,
                "test": name,
                "train ours": _cell(train),
                "train paper": f"{p_train} ({m_train})",
                "test ours": _cell(check.values),
                "test paper": f"{p_test} ({m_test})",
                "seeds": len(runs),
                "epochs": f"{runs[0]['epochs_done']}/{runs[0]['config']['optim']['epochs']}",
                "status": check.status,
            }
        )
    return pd.DataFrame(rows).set_index(["layers", "learning", "test"])


def learning_curves(results: Mapping[str, Sequence[Result]]) -> Figure:
    """Validation error (%) after each epoch, one panel per depth: BP (black), FF min ssq and max ssq
    (colours), the goodness test solid and the one-pass softmax dashed; one line per seed."""
    depths = sorted({len(rs[0]["config"]["model"]["hidden"]) for rs in results.values()})
    fig = Figure(figsize=(5.2 * len(depths), 3.6), layout="constrained")
    axes = fig.subplots(1, len(depths), squeeze=False, sharey=True)[0]
    colours = {"BP": "k", "FF min ssq": "C0", "FF max ssq": "C3"}
    for ax, depth in zip(axes, depths):
        for learning, colour in colours.items():
            runs = results.get(entry_id(learning, depth))
            if not runs:
                continue
            keys = [("val_error", "-")] if learning == "BP" else [("val_error_goodness", "-"), ("val_error_softmax", "--")]
            for key, style in keys:
                epochs, curves = per_epoch(runs, key)
                for curve in curves:
                    ax.plot(epochs, curve, style, color=colour, marker="o", ms=3, alpha=0.6 if len(curves) > 1 else 1.0)
        ax.axhline(90, color="0.6", lw=0.8, ls=":")
        ax.set_title(f"{depth} hidden layers")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation error (%)")
    handles = [Line2D([], [], color=c, label=name) for name, c in colours.items()]
    handles += [Line2D([], [], color="0.3", ls="-", label="goodness of every label (FF) / BP"), Line2D([], [], color="0.3", ls="--", label="one-pass softmax (FF)"), Line2D([], [], color="0.6", ls=":", label="chance")]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize="small", frameon=False)
    return fig


def field_images(result: Result) -> tuple[list[np.ndarray], list[tuple[int, int, int]]]:
    """The receptive fields a result keeps (``extras.first_layer_fields``) as RGB images in [0, 1],
    each scaled by its largest weight (0.5 is a zero weight), with the part of the window that lies
    on the zero padding grey; and (row, column, channel) of each unit."""
    f = result["extras"]["first_layer_fields"]
    k, c = f["window"], f["in_channels"]
    # results written before the layout was kept are CIFAR-10's 32 x 32 grid, stride 1, half-window padding
    grid, stride, side, padding = f.get("grid", 32), f.get("stride", 1), f.get("in_side", 32), f.get("padding", k // 2)
    w = unpack_weights(f["weights"]).numpy()  # (locations x channels, c * k * k), channel-major
    per_location = w.shape[0] // len(f["locations"])
    images, where = [], []
    for row, weights in enumerate(w):
        location, channel = divmod(row, per_location)
        r, col = divmod(f["locations"][location], grid)
        patch = weights.reshape(c, k, k).transpose(1, 2, 0)  # (k, k, RGB)
        inside = np.zeros((k, k), dtype=bool)  # the window's pixels on the image, not on the padding
        rows, cols = np.arange(k) + r * stride - padding, np.arange(k) + col * stride - padding
        inside[np.ix_((rows >= 0) & (rows < side), (cols >= 0) & (cols < side))] = True
        scale = np.abs(patch[inside]).max() or 1.0
        image = np.where(inside[..., None], 0.5 + 0.5 * patch / scale, 0.75)
        images.append(np.clip(image, 0.0, 1.0))
        where.append((r, col, channel))
    return images, where


def receptive_fields(results: Mapping[str, Result], per_net: int = 8) -> Figure:
    """A few first-layer units of each net (its first seed), one row per net: the 11 x 11 x 3 weights
    as a colour patch (red, green and blue input channels), mid-grey = 0, light grey = padding.
    Results that keep no fields (written before they were kept) are left out."""
    results = {e: r for e, r in results.items() if "first_layer_fields" in r.get("extras", {})}
    fig = Figure(figsize=(1.05 * per_net + 1.8, 1.25 * len(results) + 0.3), layout="constrained")
    axes = fig.subplots(len(results), per_net, squeeze=False)
    for axrow, (exp_id, result) in zip(axes, results.items()):
        images, where = field_images(result)
        pick = np.linspace(0, len(images) - 1, per_net).round().astype(int)
        for ax, i in zip(axrow, pick):
            ax.imshow(images[i], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            r, c, ch = where[i]
            ax.set_title(f"({r},{c}) #{ch}", fontsize="x-small")
        axrow[0].set_ylabel(exp_id.removeprefix("cifar10-").replace("-", " "), fontsize="small", rotation=0, ha="right", va="center")
    return fig


def epoch_flops(exp_id: str, profile: str) -> float:
    """Analytic training FLOPs of one epoch of a registry entry at ``profile`` (:mod:`ffrepro.cost`)."""
    cfg = get_experiment(exp_id).config(profile)
    return train_flops_per_example(cfg) * epoch_examples(cfg)


def cost_table(results: Mapping[str, Sequence[Result]], profile: str) -> pd.DataFrame:
    """Per net: analytic TFLOP per epoch of its configuration at ``profile``, measured seconds per
    epoch (mean over epochs and seeds, validation included), epochs, total wall time (minutes), and
    the device."""
    flops_per_epoch = {exp_id: epoch_flops(exp_id, profile) for exp_id in results}
    rows = []
    for exp_id, runs in results.items():
        seconds = [h["seconds"] for r in runs for h in r["history"]]
        rows.append(
            {
                "experiment": exp_id,
                "TFLOP / epoch": round(flops_per_epoch[exp_id] / 1e12, 2),
                "s / epoch": round(statistics.fmean(seconds), 1),
                "epochs": runs[0]["epochs_done"],
                "wall time (min)": round(sum(r["wall_time_s"]["train"] + r["wall_time_s"]["evaluate"] for r in runs) / 60, 1),
                "device": runs[0]["provenance"]["device"],
            }
        )
    return pd.DataFrame(rows).set_index("experiment")



# The official training set (the first CIFAR10_TRAIN_SIZE train, the rest validate) and the test set.
OFFICIAL_TRAIN, TEST = 50_000, 10_000


def facts(results: Mapping[str, Sequence[Result]], profile: str, seeds: Sequence[int]) -> dict[str, Any]:
    """Every number the CIFAR-10 chapter states, keyed by its glue name (``results``: registry id ->
    runs at ``profile``, the FF nets and the BP nets in any order).

    Keys: ``profile``, ``seeds``; the maps, from the first FF net's results (``grid``, ``channels``,
    ``window``, ``padding``, ``fan-in`` and ``corner-fan-in`` of a unit, ``units`` and
    ``weights-per-map`` of a map, ``dense-ratio``: the dense product's multiply-adds over the
    necessary ones); the data (``train-size``, ``val-size``, and ``n-train``, ``n-train-eval``,
    ``n-test`` of this profile); the FF dynamics (``iterations``, ``damping``, the test and loss
    windows); the optimisers (``ff-lr``, ``ff-wd``, ``readout-lr``, ``readout-wd``, ``bp-lr``,
    ``bp-wd``) and epochs, ours and the paper's (``ff-epochs``, ``bp-epochs``, ``ff-paper-epochs``,
    ``bp-paper-epochs``); what the text quotes of Table 1 and of another reproduction
    (``table1-*``, ``repro-cifar-*``: :func:`ffrepro.paper.citation_facts`); and per net
    ``ID-test``, ``ID-train``, ``ID-paper`` (its metric's test), for FF nets ``ID-test-softmax`` and
    ``ID-paper-softmax``, and ``ID-paper-tflop-epoch`` (the paper profile's epoch, :func:`epoch_flops`).
    """
    is_bp = {e: get_experiment(e).paper_config.method == "bp" for e in results}
    ff_first = next(rs for e, rs in results.items() if not is_bp[e])[0]["config"]
    bp_first = next(rs for e, rs in results.items() if is_bp[e])[0]["config"]
    bp_paper = get_experiment(next(e for e in results if is_bp[e])).paper_config
    ff_paper = get_experiment(next(e for e in results if not is_bp[e])).paper_config
    spec = LocalSpec(**ff_first["model"]["local"][0])
    colours, side, _ = image_shape(INPUTS["cifar10"])
    m, data = ff_first["model"], ff_first["data"]
    out: dict[str, Any] = {
        "profile": profile,
        "seeds": ", ".join(map(str, seeds)),
        "grid": spec.grid,
        "channels": spec.channels,
        "window": spec.window,
        "padding": spec.padding,
        "fan-in": colours * spec.window**2,
        "corner-fan-in": colours * (spec.window - spec.padding) ** 2,  # a corner unit's window inside the image
        "units": spec.units,
        "weights-per-map": spec.weights(colours),
        "dense-ratio": colours * side * side / (colours * spec.window**2),
        "train-size": CIFAR10_TRAIN_SIZE,
        "val-size": OFFICIAL_TRAIN - CIFAR10_TRAIN_SIZE,
        "n-train": data["train_examples"] or CIFAR10_TRAIN_SIZE,
        "n-train-eval": data["eval_examples"] or OFFICIAL_TRAIN - CIFAR10_TRAIN_SIZE,  # as many as validation
        "n-test": data["eval_examples"] or TEST,
        "iterations": m["iterations"],
        "damping": m["damping"],
        "window-first": m["test_window"][0],
        "window-last": m["test_window"][1],
        "loss-first": m["loss_iterations"][0],
        "loss-last": m["loss_iterations"][1],
        "ff-lr": ff_first["optim"]["lr"],
        "ff-wd": ff_first["optim"]["weight_decay"],
        "readout-lr": ff_first["optim"]["readout_lr"],
        "readout-wd": ff_first["optim"]["readout_weight_decay"],
        "bp-lr": bp_first["optim"]["lr"],
        "bp-wd": bp_first["optim"]["weight_decay"],
        "ff-epochs": ff_first["optim"]["epochs"],
        "bp-epochs": bp_first["optim"]["epochs"],
        "ff-paper-epochs": ff_paper.optim.epochs,
        "bp-paper-epochs": bp_paper.optim.epochs,
        **{k: v for k, v in citation_facts().items() if k.startswith(("table1-", "repro-cifar-"))},
    }
    for e, rs in results.items():
        exp = get_experiment(e)
        mode = "bp" if is_bp[e] else "goodness"
        out[f"{e}-paper-tflop-epoch"] = epoch_flops(e, "paper") / 1e12
        out[f"{e}-test"] = mean_error(rs, "test", mode)
        out[f"{e}-train"] = mean_error(rs, "train", mode)
        out[f"{e}-paper"] = exp.paper_value
        if not is_bp[e]:
            out[f"{e}-test-softmax"] = mean_error(rs, "test", "softmax")
            out[f"{e}-paper-softmax"] = exp.also["test.softmax"]
    return out
