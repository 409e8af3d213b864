"""Figures and tables of the CIFAR-10 chapter (paper section 4, Table 1).

Table 1 regenerated from the six nets' results beside the paper's cells (:func:`table1`), the
learning curves of the six nets (:func:`learning_curves`), and a few first-layer receptive fields,
11 x 11 x 3 patches drawn in colour (:func:`receptive_fields`).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ffrepro.experiments.cifar10 import TABLE1, entry_id
from ffrepro.figures.common import Result, per_epoch
from ffrepro.registry import get_experiment
from ffrepro.report import check_results
from ffrepro.weights import unpack_weights

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


def cost_table(results: Mapping[str, Sequence[Result]], flops_per_epoch: Mapping[str, float]) -> pd.DataFrame:
    """Per net: analytic TFLOP per epoch of its configuration, measured seconds per epoch (mean over
    epochs and seeds, validation included), epochs, total wall time (minutes), and the device."""
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

