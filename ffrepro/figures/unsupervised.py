"""Figures and tables of the chapter on unsupervised FF on MNIST (paper section 3.2).

Readouts by layer subset (:func:`readout_by_layers`, :func:`readout_comparison`), the per-layer
training history (:func:`unsupervised_curves`), first-layer receptive fields
(:func:`receptive_fields_figure`, :func:`field_smoothness`) and the maps of the locally connected
net (:func:`local_maps_table`). The chapter's goodness histograms are
:func:`ffrepro.figures.common.goodness_histograms`, its hybrid images
:func:`ffrepro.figures.hybrids.hybrid_figure`. :func:`facts` gives every number the chapter states and
:func:`figures` its own figures, so that the notebook only glues them.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ffrepro.book import Page
from ffrepro.data import MNIST_TEST
from ffrepro.figures import common
from ffrepro.figures.common import SPLITS, Result, neighbour_correlation
from ffrepro.registry import get_experiment


PAGES = (  # this module's pages of the book (ffrepro.book)
    Page('mnist-ff-unsupervised', 'reproduces unsupervised FF on MNIST, with fully connected and locally connected layers (section 3.2).', 60),
)


def _readout_name(key: str, depth: int) -> str:
    if key.startswith("layer"):
        return f"layer {key[len('layer'):]}"
    if key == "last3":
        return f"layers {max(1, depth - 2)}–{depth} (last 3)"
    if key == "all":
        return f"layers 1–{depth} (all)"
    return key


def readout_by_layers(results: Sequence[Result] | Mapping[str, Sequence[Result]]) -> pd.DataFrame:
    """Final error of the linear readout on each layer subset, mean over seeds: index readout
    (layer 1 .. layer L, the last 3, all), columns split. Several experiments (a mapping) are
    stacked: index (experiment, readout)."""
    if isinstance(results, Mapping):
        return pd.concat({exp: readout_by_layers(rs) for exp, rs in results.items()}, names=["experiment"])
    splits = [s for s in SPLITS if s in results[0]["final"]]
    subsets = list(results[0]["final"][splits[0]])
    depth = sum(k.startswith("layer") for k in subsets)
    return pd.DataFrame(
        {s: [statistics.fmean(r["final"][s][k] for r in results) for k in subsets] for s in splits},
        index=pd.Index([_readout_name(k, depth) for k in subsets], name="readout on"),
    )


def readout_comparison(results: Sequence[Result], split: str = "test") -> dict[str, Any]:
    """The numbers behind the book's prose on the first layer, for ``glue``.

    Mean errors (%) of the readouts on layer 1 alone, the last three layers and all layers; the
    best single layer; the binomial standard error (points) of an error near the last-three one on
    this many images; and how adding layer 1 to the last three changed the error: "lowered" or
    "raised" (by more than two standard errors) or "hardly changed".
    """
    final = [r["final"][split] for r in results]
    layers = [k for k in final[0] if k.startswith("layer")]
    mean = {k: statistics.fmean(f[k] for f in final) for k in final[0]}
    best = min(layers, key=mean.__getitem__)
    n = results[0]["config"]["data"]["eval_examples"] or MNIST_TEST
    p = mean["last3"] / 100
    se = 100 * (p * (1 - p) / n) ** 0.5
    delta = mean["all"] - mean["last3"]
    effect = "hardly changed" if abs(delta) <= 2 * se else ("lowered" if delta < 0 else "raised")
    return {
        "layer1": mean["layer1"],
        "last3": mean["last3"],
        "all": mean["all"],
        "best-layer": _readout_name(best, len(layers)),
        "best-layer-error": mean[best],
        "n-images": n,
        "se": se,
        "first-layer-effect": effect,
        "depth": len(layers),
    }


def unsupervised_curves(results: Sequence[Result]) -> Figure:
    """Per-epoch training history of unsupervised FF, per layer (mean over seeds).

    Left: training pairs whose hybrid (negative) had a higher goodness than its digit (positive);
    middle: the FF loss (:func:`ffrepro.figures.common.ff_loss_per_layer`: the logistic loss, or,
    in older results, the logistic loss plus the peer-normalisation term); right: mean goodness of positive (solid) and negative (dashed) images as
    a multiple of the layer's threshold.
    """
    epochs, beats = common.per_epoch(results, "neg_beats_pos")  # (S, E, L), fractions
    _, losses, loss_title, loss_label = common.ff_loss_per_layer(results)  # (S, E, L)
    _, pos = common.per_epoch(results, "pos_goodness")
    _, neg = common.per_epoch(results, "neg_goodness")
    extras = results[0].get("extras") or {}
    model = results[0]["config"]["model"]
    thresholds = np.asarray(extras.get("threshold") or [model["threshold_per_unit"] * h for h in model["hidden"]], dtype=float)  # (L,)
    fig = Figure(figsize=(10, 3.4), layout="constrained")
    ax_beats, ax_loss, ax_good = fig.subplots(1, 3)
    for layer in range(beats.shape[2]):
        style = dict(marker="o", ms=3, color=f"C{layer}")
        ax_beats.plot(epochs, 100 * beats[:, :, layer].mean(0), label=f"layer {layer + 1}", **style)
        ax_loss.plot(epochs, losses[:, :, layer].mean(0), label=f"layer {layer + 1}", **style)
        ax_good.plot(epochs, pos[:, :, layer].mean(0) / thresholds[layer], **style)
        ax_good.plot(epochs, neg[:, :, layer].mean(0) / thresholds[layer], ls="--", **style)
    ax_good.axhline(1, color="k", lw=0.8)
    ax_good.plot([], [], color="0.4", label="positive (digits)")
    ax_good.plot([], [], color="0.4", ls="--", label="negative (hybrids)")
    seeds = f" (mean of {len(results)} seeds)" if len(results) > 1 else ""
    ax_beats.set(title="hybrid's goodness above its digit's" + seeds, ylabel="training pairs (%)")
    ax_loss.set(title=loss_title + seeds, ylabel=loss_label)
    ax_good.set(title="mean goodness ÷ threshold" + seeds, ylabel="goodness / threshold")
    for ax in (ax_beats, ax_loss, ax_good):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize="small")
    return fig


def receptive_fields_figure(result: Result, max_fields: int = 48, ncols: int = 8) -> Figure:
    """First-layer weights as images, each on its own colour scale centred at 0 (red positive, blue
    negative). From ``result["extras"]["receptive_fields"]``: a dense net's first units, or, for a
    locally connected net, an equal number of units at every grid location, laid out as the grid,
    each field outlined in its 28 x 28 frame."""
    rf = result["extras"]["receptive_fields"]
    side = rf["side"]
    fields = np.asarray(rf["fields"], dtype=float).reshape(-1, side, side)  # (F, side, side)
    where = np.asarray(rf["location"])
    local = result["config"]["model"].get("local") or []
    if local and (where >= 0).any():
        spec = local[0]
        grid = spec["grid"]
        per = max(1, min(max_fields // (grid * grid), int(np.bincount(where[where >= 0]).min())))
        fig = Figure(figsize=(0.85 * grid * per + 0.1 * grid, 0.95 * grid), layout="constrained")
        panels = fig.subfigures(grid, grid, wspace=0.04, hspace=0.04).ravel()  # one per grid location
        cells = []
        for loc, panel in enumerate(panels):
            for k, ax in enumerate(panel.subplots(1, per, squeeze=False)[0]):
                cells.append((ax, int(np.flatnonzero(where == loc)[k]), loc))
    else:
        spec = None
        count = min(max_fields, len(fields))
        nrows, ncols = -(-count // ncols), min(ncols, count)
        fig = Figure(figsize=(0.9 * ncols, 0.95 * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax in axes[count:]:
            ax.set_visible(False)
        cells = [(axes[i], i, -1) for i in range(count)]
    for ax, i, loc in cells:
        vmax = float(np.abs(fields[i]).max()) or 1.0
        ax.imshow(fields[i], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("0.7")
        if spec is not None:
            row, col = divmod(loc, spec["grid"])
            origin = (col * spec["stride"] - 0.5, row * spec["stride"] - 0.5)
            ax.add_patch(Rectangle(origin, spec["window"], spec["window"], fill=False, ec="k", lw=0.6))
    return fig


def local_maps_table(result: Result) -> pd.DataFrame:
    """The locally connected layers of a run (``config.model.local``): grid, window, stride, channels,
    units, inputs per unit and weights, one row per layer, with the dense layers of the same widths
    for comparison."""
    model = result["config"]["model"]
    first = model["local"][0]
    in_side = (first["grid"] - 1) * first["stride"] + first["window"]  # the image: 28
    in_channels, dense_in = 1, in_side * in_side
    rows = []
    for k, spec in enumerate(model["local"]):
        fan_in = in_channels * spec["window"] ** 2
        units = spec["grid"] ** 2 * spec["channels"]
        rows.append({
            "layer": k + 1,
            "grid": f"{spec['grid']} × {spec['grid']}",
            "window": f"{spec['window']} × {spec['window']}",
            "stride": spec["stride"],
            "channels": spec["channels"],
            "units": units,
            "inputs per unit": fan_in,
            "weights": spec["grid"] ** 2 * fan_in * spec["channels"],
            "weights if dense": dense_in * units,
        })
        in_channels, dense_in = spec["channels"], units
    return pd.DataFrame(rows).set_index("layer")


def field_smoothness(result: Result) -> float:
    """Mean over the stored first-layer fields of the correlation between horizontally or vertically
    adjacent weights (inside the field's window, for a locally connected net). About 0 for the random
    initial weights; clearly positive once fields are smooth, stroke-like patterns."""
    rf = result["extras"]["receptive_fields"]
    side = rf["side"]
    fields = np.asarray(rf["fields"], dtype=float).reshape(-1, side, side)  # (F, side, side)
    local = result["config"]["model"].get("local") or []
    values = []
    for field, loc in zip(fields, rf["location"]):
        if local and loc >= 0:
            spec = local[0]
            row, col = divmod(loc, spec["grid"])
            top, left = row * spec["stride"], col * spec["stride"]
            field = field[top : top + spec["window"], left : left + spec["window"]]
        values.append(neighbour_correlation(field))
    return float(np.mean(values))



LOCAL, DENSE = "mnist-ff-unsupervised-local", "mnist-ff-unsupervised"


def facts(results: Mapping[str, Sequence[Result]], profile: str, seeds: Sequence[int]) -> dict[str, Any]:
    """Every number the unsupervised chapter states, keyed by its glue name (``results``: entry ->
    runs at ``profile``, :data:`DENSE` and :data:`LOCAL`).

    Keys: ``profile``, ``seeds``; per entry ``ID-paper``, ``ID-paper-epochs``, ``ID-epochs``,
    ``ID-readout-epochs``, ``ID-hidden``, ``ID-status``, its :func:`readout_comparison` (``ID-KEY``)
    and the smoothness of its first seed's fields (``ID-smoothness``); the locally connected maps
    (``local-weights``, ``local-dense-weights``: as many dense layers would hold, ``local-units``);
    peer normalisation of both nets (``local-peer``, ``dense-peer``) and the hybrids' ``blur-steps``."""
    out: dict[str, Any] = {"profile": profile, "seeds": ", ".join(map(str, seeds))}
    for e, rs in results.items():
        exp = get_experiment(e)
        cfg = rs[0]["config"]
        out[f"{e}-paper"] = exp.paper_value
        out[f"{e}-paper-epochs"] = exp.paper_config.optim.epochs
        out[f"{e}-epochs"] = cfg["optim"]["epochs"]
        out[f"{e}-readout-epochs"] = cfg["model"]["readout_epochs"]
        out[f"{e}-hidden"] = " × ".join(map(str, cfg["model"]["hidden"]))
        out[f"{e}-status"] = common.summary_row(e, profile)["status"]
        out.update({f"{e}-{key}": value for key, value in readout_comparison(rs).items()})
        out[f"{e}-smoothness"] = field_smoothness(rs[0])
    local, dense = results[LOCAL][0], results[DENSE][0]
    maps = local_maps_table(local)
    out["local-weights"] = int(maps["weights"].sum())
    out["local-dense-weights"] = int(maps["weights if dense"].sum())
    out["local-units"] = ", ".join(f"{u:,d}" for u in maps["units"])
    out["local-peer"] = local["config"]["model"]["peer_normalization"]
    out["dense-peer"] = dense["config"]["model"]["peer_normalization"]
    out["blur-steps"] = dense["config"]["model"]["blur_steps"]
    return out


def figures(results: Mapping[str, Sequence[Result]]) -> dict[str, Figure]:
    """The chapter's figures of each entry by glue name: learning curves (``fig-curves-ID``), goodness
    histograms (``fig-goodness-ID``) and receptive fields (``fig-fields-ID``), of its first seed where one run is drawn."""
    out: dict[str, Figure] = {}
    for e, rs in results.items():
        out[f"fig-curves-{e}"] = unsupervised_curves(rs)
        out[f"fig-goodness-{e}"] = common.goodness_histograms(rs[0])
        out[f"fig-fields-{e}"] = receptive_fields_figure(rs[0])
    return out


def precision_section(profile: str) -> tuple[str, pd.DataFrame | None]:
    """The validation of unsupervised FF's bf16 products at ``profile`` (:func:`ffrepro.figures.common.precision_section`)."""
    return common.precision_section("ff-unsupervised", "Unsupervised FF", profile)

