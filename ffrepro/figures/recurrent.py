"""Figures of the chapter on recurrent FF with top-down connections (paper section 3.4, Figure 3).

The network drawn as the paper's Figure 3 (:func:`network_diagram`), the net settling on a few
test digits (:func:`settling_figure`), the test error against the averaging window and per iteration
(:func:`window_error_figure`, :func:`window_table`), learning curves (:func:`recurrent_curves`) and the
goodness of positive and negative videos over the iterations (:func:`goodness_by_iteration_figure`).
The goodness histograms are :func:`ffrepro.figures.common.goodness_histograms`. :func:`facts` gives
every number the chapter states and :func:`figures` every figure it glues, so that the notebook only
glues them.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from ffrepro.book import Page
from ffrepro.paper import reproduction
from ffrepro.cost import epoch_examples, train_flops_per_example
from ffrepro.data import MNIST_SIDE, NUM_CLASSES
from ffrepro.figures.common import Result, goodness_histograms, mean_error, per_epoch, seed_lines, summary_row
from ffrepro.figures.common import precision_section as common_precision_section
from ffrepro.registry import get_experiment


PAGES = (  # this module's pages of the book (ffrepro.book)
    Page('mnist-ff-recurrent', 'reproduces the recurrent net with top-down connections, MNIST as a video of a static image (section 3.4, Figure 3).', 70),
)

WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}


def _window(name: str) -> tuple[int, int]:
    a, b = name.split("-")
    return int(a), int(b)


def network_diagram(depth: int = 3, steps: int = 4, damping: float = 0.3, iterations: int | None = None) -> Figure:
    """The recurrent net unrolled in time (the paper's Figure 3), drawn by code.

    Rows are layers (the image at the bottom, ``depth`` hidden layers, the clamped label on top),
    columns time steps: the label-free initial pass (t = 0), then ``steps`` synchronous iterations
    (``iterations`` in all, if given, is written after the last column). Solid arrows run bottom-up
    (blue) and top-down (orange) from step t-1 to step t; the grey dashed arrow is the damping, the
    share ``damping`` of a layer's old state kept in the new one.
    """
    rows = ["image", *(f"hidden {i + 1}" for i in range(depth)), "label"]
    n_rows, n_cols = len(rows), steps + 1
    dx, dy, w, h = 2.6, 1.25, 1.5, 0.55
    fig = Figure(figsize=(1.45 * n_cols + 1.6, 0.82 * n_rows + 0.8), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlim(-1.6, dx * (n_cols - 1) + w / 2 + (1.4 if iterations and iterations > steps else 0.3))
    ax.set_ylim(-0.7, dy * (n_rows - 1) + 0.9)
    ax.set_axis_off()

    def centre(r: int, c: int) -> tuple[float, float]:
        return c * dx, r * dy

    def arrow(a: tuple[float, float], b: tuple[float, float], **kw: Any) -> None:
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=9, shrinkA=0, shrinkB=0, **kw))

    clamp_style = dict(fc="0.92", ec="0.35")
    hidden_style = dict(fc="white", ec="k")
    for c in range(n_cols):
        for r, name in enumerate(rows):
            x, y = centre(r, c)
            clamped = r in (0, n_rows - 1)
            ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.12", lw=1, **(clamp_style if clamped else hidden_style)))
            if c == 0 or (0 < r < n_rows - 1):
                ax.text(x, y, name, ha="center", va="center", fontsize=7.5)
            else:
                ax.text(x, y, name, ha="center", va="center", fontsize=7.5, color="0.4")
        ax.text(c * dx, dy * (n_rows - 1) + 0.65, "t = 0\n(bottom-up pass)" if c == 0 else f"t = {c}", ha="center", va="bottom", fontsize=8)
    # the initial pass: bottom-up within column 0, no top-down input (the label's neither)
    for r in range(1, n_rows - 1):
        arrow((0, (r - 1) * dy + h / 2), (0, r * dy - h / 2), color="C0", lw=1.2)
    # iterations: every hidden layer at t from its neighbours at t-1, synchronously
    for c in range(1, n_cols):
        for r in range(1, n_rows - 1):
            x0, x1 = (c - 1) * dx + w / 2, c * dx - w / 2
            arrow((x0, (r - 1) * dy + 0.1), (x1, r * dy - 0.12), color="C0", lw=1.2)  # bottom-up
            arrow((x0, (r + 1) * dy - 0.1), (x1, r * dy + 0.12), color="C1", lw=1.2)  # top-down (the label's too)
            arrow((x0, r * dy), (x1, r * dy), color="0.45", lw=1.0, ls=(0, (3, 2)))  # damping
        for r in (0, n_rows - 1):  # clamped: the same image and label at every step
            ax.plot([(c - 1) * dx + w / 2, c * dx - w / 2], [r * dy, r * dy], color="0.7", lw=3, solid_capstyle="butt", zorder=0)
    if iterations and iterations > steps:
        ax.text(dx * (n_cols - 1) + w / 2 + 0.7, dy * (n_rows - 1) / 2, f"…\nt = {iterations}", ha="center", va="center", fontsize=9)
    handles = [
        Line2D([], [], color="C0", lw=1.5, label="bottom-up weights"),
        Line2D([], [], color="C1", lw=1.5, label="top-down weights"),
        Line2D([], [], color="0.45", lw=1.2, ls=(0, (3, 2)), label=f"damping: {damping:g} × old state"),
        Rectangle((0, 0), 1, 1, **clamp_style, label="clamped (same every step)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=7.5, frameon=False)
    return fig


def settling_figure(result: Result, n: int = 4, images: np.ndarray | None = None) -> Figure:
    """Goodness of each of the 10 labels over the iterations for the first ``n`` saved test digits.

    ``result["extras"]["settling"]``: ``labels`` (n,) and ``goodness`` (n, T + 1, 10), step 0 the
    label-free initial pass. The true label is drawn thick and green, the others grey; the shaded
    band is the test window. ``images`` (n, 784), if given, are shown above their panels.
    """
    settling = result["extras"]["settling"]
    model = result["config"]["model"]
    a, b = model["test_window"]
    labels = settling["labels"][:n]
    g = np.asarray(settling["goodness"][:n], dtype=float)  # (n, T + 1, 10)
    steps = np.arange(g.shape[1])
    rows = 2 if images is not None else 1
    fig = Figure(figsize=(2.6 * len(labels), 2.9 + 1.3 * (rows - 1)), layout="constrained")
    axes = fig.subplots(rows, len(labels), squeeze=False, height_ratios=[1, 2.4] if rows == 2 else None)
    for j, label in enumerate(labels):
        if images is not None:
            top = axes[0, j]
            top.imshow(np.asarray(images[j]).reshape(MNIST_SIDE, MNIST_SIDE), cmap="gray", vmin=0, vmax=1)
            top.set_axis_off()
        ax = axes[-1, j]
        ax.axvspan(a - 0.5, b + 0.5, color="C0", alpha=0.1, lw=0, label="test window")
        for c in range(g.shape[2]):
            if c != label:
                ax.plot(steps, g[j, :, c], color="0.6", lw=0.9, alpha=0.8)
        ax.plot(steps, g[j, :, label], color="C2", lw=2.4, marker="o", ms=3, label=f"true label ({label})")
        best = int(g[j, a : b + 1].mean(0).argmax())
        if best != label:
            ax.plot(steps, g[j, :, best], color="C3", lw=1.6, ls="--", label=f"picked ({best})")
        ax.set_title(f"test digit {j + 1}: a {label}", fontsize="medium")
        ax.set_xlabel("iteration (0: initial pass)")
        ax.set_xticks(steps)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small", loc="lower right")
    axes[-1, 0].set_ylabel("goodness, summed over scored layers")
    return fig


def window_errors(results: Sequence[Result], split: str = "test") -> dict[tuple[int, int], float]:
    """Error (%) of every averaging window (first, last), mean over seeds."""
    names = results[0]["extras"]["window_error"][split]
    return {_window(k): statistics.fmean(r["extras"]["window_error"][split][k] for r in results) for k in names}


def iteration_errors(results: Sequence[Result], split: str = "test") -> np.ndarray:
    """Error (%) after each single iteration 1..T, mean over seeds. -> (T,)"""
    return np.mean([r["extras"]["iteration_error"][split] for r in results], axis=0)


def window_table(results: Sequence[Result], split: str = "test") -> pd.DataFrame:
    """Error (%) of every window: index the first iteration averaged, columns the last."""
    errs = window_errors(results, split)
    t = max(b for _, b in errs)
    table = pd.DataFrame(
        [[errs.get((a, b), np.nan) for b in range(1, t + 1)] for a in range(1, t + 1)],
        index=pd.Index(range(1, t + 1), name="first iteration"),
        columns=pd.Index(range(1, t + 1), name="last iteration"),
    )
    return table


def best_window(results: Sequence[Result], split: str = "test") -> tuple[tuple[int, int], float]:
    """The window with the lowest mean error on ``split``, and that error."""
    errs = window_errors(results, split)
    w = min(errs, key=lambda k: (errs[k], k))
    return w, errs[w]


def window_error_figure(results: Mapping[str, Sequence[Result]], split: str = "test") -> Figure:
    """Test error against the averaging window (heat map per experiment) and per single iteration."""
    n = len(results)
    fig = Figure(figsize=(3.6 * n + 4.0, 3.5), layout="constrained")
    axes = fig.subplots(1, n + 1, width_ratios=[1] * n + [1.25])
    for ax, (exp, rs) in zip(axes, results.items()):
        table = window_table(rs, split)
        values = table.to_numpy()
        im = ax.imshow(values, cmap="viridis_r", origin="upper")
        t = values.shape[0]
        for i in range(t):
            for j in range(i, t):
                ax.text(j, i, f"{values[i, j]:.2f}" if values[i, j] < 10 else f"{values[i, j]:.1f}", ha="center", va="center", fontsize=6, color="w" if values[i, j] > np.nanmean(values) else "k")
        a, b = rs[0]["config"]["model"]["test_window"]
        ax.add_patch(Rectangle((b - 1 - 0.5, a - 1 - 0.5), 1, 1, fill=False, ec="C3", lw=2))
        ax.set_xticks(range(t), range(1, t + 1))
        ax.set_yticks(range(t), range(1, t + 1))
        ax.set(xlabel="last iteration averaged", ylabel="first iteration averaged", title=f"{exp}\n{split} error (%) by window")
        fig.colorbar(im, ax=ax, shrink=0.8)
    ax = axes[-1]
    for k, (exp, rs) in enumerate(results.items()):
        errs = iteration_errors(rs, split)
        ax.plot(np.arange(1, len(errs) + 1), errs, marker="o", ms=3, color=f"C{k}", label=exp)
        a, b = rs[0]["config"]["model"]["test_window"]
        ax.axhline(window_errors(rs, split)[(a, b)], color=f"C{k}", ls="--", lw=1, label=f"{exp}, window {a}-{b}")
    ax.set(xlabel="iteration", ylabel=f"{split} error (%)", title="one iteration at a time")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small")
    return fig


def recurrent_curves(results: Sequence[Result]) -> Figure:
    """Per-epoch history: validation error (goodness over the test window), each layer's FF loss, and
    each layer's mean goodness of positive and negative videos (means over seeds)."""
    seeds = [r["seed"] for r in results]
    fig = Figure(figsize=(11, 3.3), layout="constrained")
    ax_err, ax_loss, ax_good = fig.subplots(1, 3)
    epochs, err = per_epoch(results, "val_error_goodness")
    seed_lines(ax_err, epochs, err, seeds)
    ax_err.set(title="validation error (goodness, test window)", ylabel="error (%)")
    if len(results) > 1:
        ax_err.legend(fontsize="small")
    _, loss = per_epoch(results, "ff_loss")  # (S, E, L)
    _, pos = per_epoch(results, "pos_goodness")
    _, neg = per_epoch(results, "neg_goodness")
    for layer in range(loss.shape[2]):
        ax_loss.plot(epochs, loss.mean(0)[:, layer], marker="o", ms=3, color=f"C{layer}", label=f"layer {layer + 1}")
        ax_good.plot(epochs, pos.mean(0)[:, layer], color=f"C{layer}", marker="o", ms=3, label=f"layer {layer + 1}, positive")
        ax_good.plot(epochs, neg.mean(0)[:, layer], color=f"C{layer}", ls="--", label=f"layer {layer + 1}, negative")
    ax_loss.set(title="FF loss per layer", ylabel="logistic loss per example (log scale)", yscale="log")
    ax_good.set(title="goodness of training videos", ylabel="mean goodness")
    ax_loss.legend(fontsize="small")
    ax_good.legend(fontsize="x-small", ncols=2)
    for ax in (ax_err, ax_loss, ax_good):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    return fig


def goodness_by_iteration_figure(result: Result) -> Figure:
    """Mean goodness of positive and negative validation videos per layer over the iterations, with
    each layer's threshold; the shaded band is the test window."""
    by_it = result["extras"]["goodness_by_iteration"]
    thresholds = result["extras"]["threshold"]
    a, b = result["config"]["model"]["test_window"]
    n_layers = len(thresholds)
    fig = Figure(figsize=(3.4 * n_layers, 3.0), layout="constrained")
    axes = fig.subplots(1, n_layers, squeeze=False)[0]
    for layer, ax in enumerate(axes):
        pos, neg = np.asarray(by_it["positive"][layer]), np.asarray(by_it["negative"][layer])
        steps = np.arange(len(pos))
        ax.axvspan(a - 0.5, b + 0.5, color="C0", alpha=0.1, lw=0)
        ax.plot(steps, pos, color="C2", marker="o", ms=3, label="positive")
        ax.plot(steps, neg, color="C3", marker="o", ms=3, label="negative")
        ax.axhline(thresholds[layer], color="k", ls="--", lw=1, label="threshold")
        ax.set(title=f"layer {layer + 1}", xlabel="iteration (0: initial pass)", xticks=steps)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean goodness")
    axes[0].legend(fontsize="small")
    return fig


def facts(results: Mapping[str, Sequence[Result]], profile: str, seeds: Sequence[int]) -> dict[str, Any]:
    """Every number the recurrent chapter states, keyed by its glue name (``results``: entry -> runs
    at ``profile``, the main entry first; the others differ from it in depth only).

    Keys: ``profile``, ``seeds``, ``n-test``; ``depth-words`` (the paper's depths, in words); the
    method's settings from the main entry's runs (``iterations``, ``damping``, ``damping-new``, the
    test and loss windows, ``negative-iterations``, ``label-norm``: the length of the one-hot label);
    and per entry ``ID-*``: the paper's number, depth, width and epochs (ours and the paper's), status
    and tolerance, test errors of the three tests, the train error, the best averaging window on
    validation with its test error, the error after one iteration and the best single iteration, the
    seconds per epoch and the device, and the training work: TFLOP an epoch at this profile and at the
    paper's, and PFLOP of the whole paper run (:mod:`ffrepro.cost`); and what another reproduction
    reports (``repro-recurrent-mnist``, :data:`ffrepro.paper.REPRODUCTIONS`).
    """
    main = next(iter(results.values()))[0]
    model = main["config"]["model"]
    out: dict[str, Any] = {
        "profile": profile,
        "seeds": ", ".join(map(str, seeds)),
        "n-test": main["config"]["data"]["eval_examples"] or 10_000,
        "depth-words": " or ".join(sorted({WORDS[len(get_experiment(e).paper_config.model.hidden)] for e in results}, key=len)),
        "iterations": model["iterations"],
        "damping": model["damping"],
        "damping-new": 1 - model["damping"],
        "window-first": model["test_window"][0],
        "window-last": model["test_window"][1],
        "loss-first": model["loss_iterations"][0],
        "loss-last": model["loss_iterations"][1],
        "negative-iterations": model["negative_iterations"],
        "label-norm": NUM_CLASSES ** 0.5 * model["label_strength"],  # a one-hot label's length, the label units at full strength
        "repro-recurrent-mnist": reproduction("recurrent-mnist").value,
    }
    for e, rs in results.items():
        exp = get_experiment(e)
        ran, cfg, paper = rs[0]["config"], exp.config(profile), exp.paper_config
        out[f"{e}-paper"] = exp.paper_value
        out[f"{e}-depth"], out[f"{e}-width"] = len(ran["model"]["hidden"]), ran["model"]["hidden"][0]
        out[f"{e}-paper-width"] = paper.model.hidden[0]
        out[f"{e}-epochs"], out[f"{e}-paper-epochs"] = ran["optim"]["epochs"], paper.optim.epochs
        out[f"{e}-status"] = summary_row(e, profile)["status"]
        out[f"{e}-tolerance"] = exp.tolerance.get(profile, float("nan"))
        for mode in ("goodness", "all_iterations", "last_iteration"):
            out[f"{e}-test-{mode}"] = mean_error(rs, "test", mode)
        out[f"{e}-train-goodness"] = mean_error(rs, "train", "goodness")
        (a, b), _ = best_window(rs, "val")  # chosen on validation, reported on test
        out[f"{e}-best-val-window"] = f"{a}-{b}"
        out[f"{e}-best-val-window-test"] = window_errors(rs, "test")[(a, b)]
        it = iteration_errors(rs, "test")
        out[f"{e}-iteration-1"] = float(it[0])
        out[f"{e}-best-iteration"] = int(it.argmin()) + 1
        out[f"{e}-best-iteration-error"] = float(it.min())
        seconds = [h["seconds"] for r in rs for h in r["history"]]
        out[f"{e}-seconds-per-epoch"] = statistics.fmean(seconds)
        out[f"{e}-fastest-epoch"] = min(seconds)
        out[f"{e}-device"] = rs[0]["provenance"]["device"]
        paper_epoch = train_flops_per_example(paper) * epoch_examples(paper)
        out[f"{e}-tflop-epoch"] = train_flops_per_example(cfg) * epoch_examples(cfg) / 1e12
        out[f"{e}-paper-tflop-epoch"] = paper_epoch / 1e12
        out[f"{e}-paper-pflop"] = paper_epoch * paper.optim.epochs / 1e15
    return out


def precision_section(profile: str) -> tuple[str, pd.DataFrame | None]:
    """The validation of recurrent FF's bf16 products at ``profile`` (:func:`ffrepro.figures.common.precision_section`)."""
    return common_precision_section("ff-recurrent", "Recurrent FF", profile)


def figures(results: Mapping[str, Sequence[Result]], images: np.ndarray | None = None, n: int = 4) -> dict[str, Figure]:
    """The chapter's figures by glue name: each entry's learning curves (``fig-curves-ID``), the net
    of the main entry (the first) drawn over ``n`` steps, that net settling on ``n`` test ``images``,
    the errors by window and iteration, and the goodness by iteration and as histograms (first seed)."""
    first = next(iter(results.values()))[0]
    model = first["config"]["model"]
    out = {f"fig-curves-{e}": recurrent_curves(rs) for e, rs in results.items()}
    out["fig-network"] = network_diagram(len(model["hidden"]), n, model["damping"], model["iterations"])
    out["fig-settling"] = settling_figure(first, n, images)
    out["fig-windows"] = window_error_figure(results)
    out["fig-goodness-iterations"] = goodness_by_iteration_figure(first)
    out["fig-goodness-recurrent"] = goodness_histograms(first)
    return out
