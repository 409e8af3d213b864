"""Figures and tables for the book: pure functions of results dicts (see :mod:`ffrepro.results`).

Every function builds a new :class:`matplotlib.figure.Figure` (never through ``pyplot``, so nothing
is drawn or registered globally) or a :class:`pandas.DataFrame`. Errors are in percent.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ffrepro.config import PROFILES, FFConfig
from ffrepro.data import Dataset
from ffrepro.ff import NUM_CLASSES, embed_label, wrong_labels
from ffrepro.report import summary_rows
from ffrepro.results import load_results, results_root
from ffrepro.unsupervised import blur, hybrid_images, hybrid_masks

Result = dict[str, Any]

# Readable names of the inference modes in ``result["final"][split]`` (paper section 3.3, and ours).
MODE_NAMES = {
    "goodness": "goodness, one pass per label",
    "softmax": "softmax, neutral label",
    "neutral_goodness": "neutral goodness (ours)",
    "bp": "backprop",
}
SPLITS = ("train", "val", "test")
# The columns of the paper-vs-reproduced overview (the book's first page and each chapter).
OVERVIEW_COLUMNS = ["experiment", "profile", "epochs", "hidden", "paper %", "ours %", "tolerance", "status"]


def require_results(exp_id: str, profile: str, seeds: Sequence[int] | None = None) -> list[Result]:
    """:func:`ffrepro.results.load_results` (only ``seeds``, if given); a missing seed is an error
    that names the command to run."""
    results = [r for r in load_results(exp_id, profile) if seeds is None or r["seed"] in seeds]
    missing = sorted(set(seeds or []) - {r["seed"] for r in results})
    if not results or missing:
        seed_args = f" --seed {' '.join(map(str, missing))}" if missing else ""
        raise FileNotFoundError(
            f"no results for {exp_id!r} with profile {profile!r}"
            + (f" and seed(s) {', '.join(map(str, missing))}" if missing else "")
            + f" under {results_root()}. Produce them with "
            f"`python -m ffrepro run {exp_id} --profile {profile}{seed_args}` (or `make book PROFILE={profile}`)."
        )
    return results


def profile_order(profile: str) -> tuple[str, ...]:
    """``profile`` first, then the other profiles (summary tables skip those without results)."""
    return (profile, *(p for p in PROFILES if p != profile))


def paper_table(exp_ids: Sequence[str] | None, profiles: Sequence[str] = PROFILES) -> pd.DataFrame:
    """Paper vs reproduced, one row per (experiment, profile) with results on disk."""
    ids = None if exp_ids is None else list(exp_ids)
    return pd.DataFrame(summary_rows(ids, tuple(profiles)))


def overview_table(exp_ids: Sequence[str] | None, profiles: Sequence[str] = PROFILES) -> pd.DataFrame:
    """:func:`paper_table` reduced to :data:`OVERVIEW_COLUMNS`, indexed by (experiment, profile);
    raises if no experiment has results."""
    table = paper_table(exp_ids, profiles)
    if table.empty:
        raise FileNotFoundError(
            f"no results for profiles {', '.join(profiles)} under {results_root()}. "
            f"Produce them with `python -m ffrepro run all --profile {profiles[0]}`."
        )
    table = table[OVERVIEW_COLUMNS].assign(hidden=table["hidden"].map(_short_hidden))
    return table.set_index(["experiment", "profile"])


def _short_hidden(hidden: str) -> str:
    """"100x100x100" -> "3 × 100"; layers of different widths are left as they are."""
    widths = hidden.split("x")
    return f"{len(widths)} × {widths[0]}" if len(set(widths)) == 1 else hidden.replace("x", " × ")


def runs_table(exp_ids: Sequence[str] | None, profiles: Sequence[str] = PROFILES) -> pd.DataFrame:
    """Which seeds ran where and for how long, per (experiment, profile): the rest of :func:`paper_table`."""
    table = paper_table(exp_ids, profiles)
    if table.empty:
        return table
    return table[["experiment", "profile", "seeds", "device", "wall time (min)"]].set_index(["experiment", "profile"])


def summary_row(exp_id: str, profile: str) -> dict[str, Any]:
    """The :func:`ffrepro.report.summary_rows` row of one (experiment, profile), e.g. its "status"."""
    rows = summary_rows([exp_id], (profile,))
    if not rows:
        raise FileNotFoundError(f"no results for {exp_id!r} with profile {profile!r} under {results_root()}")
    return rows[0]


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def provenance_table(results: Mapping[str, Sequence[Result]]) -> pd.DataFrame:
    """Where, when and with which code each run was made: one column per (experiment, seed)."""
    columns = {}
    for exp, rs in results.items():
        for r in rs:
            prov = r["provenance"]
            commit = (prov["git_commit"] or "unknown")[:10]
            if prov["git_dirty"]:
                commit += " (uncommitted changes)"
            columns[(exp, f"seed {r['seed']}")] = {
                "complete": "yes" if r["complete"] else f"no ({r['epochs_done']} epochs)",
                "device": prov["device"],
                "training time": _duration(r["wall_time_s"]["train"]),
                "evaluation time": _duration(r["wall_time_s"]["evaluate"]),
                "git commit": commit,
                "python": prov["python"],
                "torch": prov["packages"]["torch"],
                "finished (UTC)": r["finished"].replace("T", " ").removesuffix("+00:00"),
            }
    return pd.DataFrame(columns)


def error_by_mode_table(results: Sequence[Result]) -> pd.DataFrame:
    """Final error of each inference mode, averaged over seeds: index split, columns mode."""
    splits = [s for s in SPLITS if s in results[0]["final"]]
    modes = list(results[0]["final"][splits[0]])
    table = pd.DataFrame(
        {MODE_NAMES.get(m, m): [statistics.fmean(r["final"][s][m] for r in results) for s in splits] for m in modes},
        index=pd.Index(splits, name="split"),
    )
    return table


def errors_by_experiment(results: Mapping[str, Sequence[Result]]) -> pd.DataFrame:
    """:func:`error_by_mode_table` of several experiments, stacked: index (experiment, split)."""
    return pd.concat({exp: error_by_mode_table(rs) for exp, rs in results.items()}, names=["experiment", "split"])


def mean_error(results: Sequence[Result], split: str, mode: str) -> float:
    """Final error of one split and mode, averaged over seeds, as a plain float (for ``glue``)."""
    return float(statistics.fmean(r["final"][split][mode] for r in results))


def config_table(results: Mapping[str, Sequence[Result]]) -> pd.DataFrame:
    """The configuration each experiment ran with (from its first seed's result): index ``section.field``."""
    columns = {}
    for exp, rs in results.items():
        cfg = rs[0]["config"]
        flat = {"method": cfg["method"]}
        for section in ("data", "model", "optim"):
            for name, value in cfg[section].items():
                if isinstance(value, list) and not value:
                    value = "none"  # e.g. no locally connected layers
                elif isinstance(value, list) and all(isinstance(v, int) for v in value):
                    value = _short_hidden("x".join(map(str, value)))
                elif isinstance(value, list) and all(isinstance(v, dict) and "grid" in v for v in value):
                    value = "; ".join(_local_spec_text(v) for v in value)
                flat[f"{section}.{name}"] = "all" if value is None else str(value)  # None: all of the data
        columns[exp] = flat
    return pd.DataFrame(columns).fillna("–")  # "–": the field does not exist for this method


def _local_spec_text(spec: Mapping[str, int]) -> str:
    """One locally connected layer (a ``LocalSpec`` as a dict), short enough for a table cell:
    grid x grid x channels (window/stride), e.g. "4×4×128 (10/6)"."""
    return f"{spec['grid']}×{spec['grid']}×{spec['channels']} ({spec['window']}/{spec['stride']})"


def _history(results: Sequence[Result], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Epochs (E,) and one curve per seed, (S, E), or (S, E, L) for per-layer values; cut to the shortest run."""
    n = min(len(r["history"]) for r in results)
    epochs = np.array([h["epoch"] for h in results[0]["history"][:n]])
    return epochs, np.array([[h[key] for h in r["history"][:n]] for r in results], dtype=float)


def _seed_lines(ax: Any, epochs: np.ndarray, curves: np.ndarray, seeds: Sequence[int], color: str = "C0") -> None:
    for seed, curve in zip(seeds, curves):
        ax.plot(epochs, curve, marker="o", ms=3, color=color, alpha=0.5 if len(curves) > 1 else 1.0, label=f"seed {seed}")


def learning_curves(results: Sequence[Result]) -> Figure:
    """Per-epoch history of one experiment, one line per seed.

    FF: validation error of the softmax readout (or, without one, the percentage of training pairs
    whose negative beat the positive, per layer) and each layer's FF loss (mean over seeds).
    BP: validation error and training loss.
    """
    seeds = [r["seed"] for r in results]
    many_seeds = len(results) > 1
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    ax_err, ax_loss = fig.subplots(1, 2)
    history = results[0]["history"][0]
    is_bp = results[0]["config"]["method"] == "bp"
    val_key = "val_error" if is_bp else ("val_error_softmax" if "val_error_softmax" in history else None)
    if val_key is not None:  # the validation error measured every epoch
        epochs, err = _history(results, val_key)
        _seed_lines(ax_err, epochs, err, seeds)
        ax_err.set(title="validation error" + ("" if is_bp else ", softmax readout"), ylabel="error (%)")
        if many_seeds:
            ax_err.legend(fontsize="small")
    else:  # unsupervised FF has no per-epoch error: how often negatives out-score positives
        epochs, beats = _history(results, "neg_beats_pos")  # (S, E, L), fractions
        for layer, curve in enumerate(100 * beats.mean(axis=0).T):
            ax_err.plot(epochs, curve, marker="o", ms=3, color=f"C{layer}", label=f"layer {layer + 1}")
        ax_err.set(title="negative goodness above positive", ylabel="training pairs (%)")
        ax_err.legend(fontsize="small")
    if is_bp:
        _, loss = _history(results, "train_loss")
        _seed_lines(ax_loss, epochs, loss, seeds)
        ax_loss.set(title="training loss (cross-entropy)", ylabel="loss")
    else:
        _, losses = _history(results, "layer_loss")  # (S, E, L)
        for layer, curve in enumerate(losses.mean(axis=0).T):  # (L, E)
            ax_loss.plot(epochs, curve, marker="o", ms=3, color=f"C{layer}", label=f"layer {layer + 1}")
        ax_loss.set(title="FF loss per layer" + (f" (mean of {len(results)} seeds)" if many_seeds else ""), ylabel="loss per example")
        ax_loss.legend(fontsize="small")
    for ax in (ax_err, ax_loss):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    return fig


def goodness_histograms(result: Result, bins: int = 40) -> Figure:
    """Goodness of positive and negative validation images, one panel per layer, threshold as a line."""
    sample = result["extras"]["goodness_sample"]
    thresholds = result["extras"]["threshold"]
    n_layers = len(thresholds)
    ncols = n_layers if n_layers <= 3 else 2
    nrows = -(-n_layers // ncols)
    width = {1: 5.0, 2: 9.0, 3: 10.5}[ncols]
    fig = Figure(figsize=(width, 3.0 * nrows), layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in grid[n_layers:]:
        ax.set_visible(False)
    axes = grid[:n_layers]
    for layer, ax in enumerate(axes):
        pos = np.asarray(sample["positive"][layer])
        neg = np.asarray(sample["negative"][layer])
        edges = np.histogram_bin_edges(np.concatenate([pos, neg, [thresholds[layer]]]), bins=bins)
        ax.hist(pos, bins=edges, alpha=0.6, color="C2", label="positive")
        ax.hist(neg, bins=edges, alpha=0.6, color="C3", label="negative")
        ax.axvline(thresholds[layer], color="k", ls="--", lw=1, label="threshold")
        ax.set_title(f"layer {layer + 1}")
        ax.set_xlabel("goodness")
        if layer % ncols == 0:
            ax.set_ylabel("images")
    axes[0].legend(fontsize="small")
    return fig


def label_embedding_figure(dataset: Dataset, n: int = 4, cfg: FFConfig | None = None, seed: int = 0) -> Figure:
    """The first ``n`` test images with a positive (true), a negative (wrong) and the neutral label.

    The label occupies the first 10 pixels (the left of the top row), outlined in each image and
    shown enlarged below it.
    """
    cfg = cfg or FFConfig()
    x, y = dataset.test.x[:n].cpu(), dataset.test.y[:n].cpu()  # (n, 784), (n,)
    neg = wrong_labels(y, torch.Generator().manual_seed(seed))
    rows = [
        ("positive", embed_label(x, y, cfg.label_strength, cfg.neutral_label), y),
        ("negative", embed_label(x, neg, cfg.label_strength, cfg.neutral_label), neg),
        ("neutral", embed_label(x, None, cfg.label_strength, cfg.neutral_label), None),
    ]
    fig = Figure(figsize=(1.9 * n, 2.3 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), n, squeeze=False)
    for r, (kind, images, labels) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(images[c].reshape(28, 28).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.add_patch(Rectangle((-0.5, -0.5), NUM_CLASSES, 1, fill=False, ec="C1", lw=1.2))
            label = "0.1 each" if labels is None else f"label {int(labels[c])}"
            ax.set_title(f"{kind}: digit {int(y[c])}\n{label}", fontsize="small")
            ax.set_xticks([])
            ax.set_yticks([])
            strip = ax.inset_axes((0.0, -0.15, 1.0, 0.1))  # the 10 label pixels, enlarged
            strip.imshow(images[c, :NUM_CLASSES].reshape(1, NUM_CLASSES).numpy(), cmap="gray", vmin=0, vmax=1, aspect="auto")
            strip.set_xticks(range(NUM_CLASSES), [str(k) for k in range(NUM_CLASSES)], fontsize=6)
            strip.tick_params(length=0, pad=1)
            strip.set_yticks([])
            for spine in strip.spines.values():
                spine.set_color("C1")
    return fig


# --- Unsupervised FF (paper section 3.2): hybrid images, readouts by layer, receptive fields ---------


def _gray_image(ax: Any, image: np.ndarray, title: str | None = None, fontsize: str = "medium") -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)


def hybrid_mask_figure(blur_steps: int = 10, stages: Sequence[int] = (1, 3), side: int = 28, seed: int = 0) -> Figure:
    """How a hybrid mask is made (paper section 3.2): random bits, the same bits after each number
    of blurs in ``stages`` and after ``blur_steps`` blurs, then the thresholded mask."""
    bits = torch.randint(0, 2, (1, side, side), generator=torch.Generator().manual_seed(seed)).float()  # (1, H, W)
    steps = [s for s in stages if 0 < s < blur_steps] + [blur_steps]
    panels = [("random bits", bits[0])]
    panels += [(f"blurred {s} time{'s' if s > 1 else ''}", blur(bits, s)[0]) for s in steps]
    panels.append((f"mask: {blur_steps} blurs > 0.5", (blur(bits, blur_steps)[0] > 0.5).float()))
    fig = Figure(figsize=(1.7 * len(panels), 2.0), layout="constrained")
    for ax, (title, image) in zip(fig.subplots(1, len(panels)), panels):
        _gray_image(ax, image.numpy(), title, fontsize="small")
    return fig


def _hybrid_partners(y: torch.Tensor, n: int) -> list[int]:
    """For each of the first ``n`` labels, the index of a later image with a different label (each used once)."""
    used, partners = set(range(n)), []
    for i in range(n):
        j = next(j for j in range(n, len(y)) if j not in used and int(y[j]) != int(y[i]))
        used.add(j)
        partners.append(j)
    return partners


def hybrid_figure(dataset: Dataset, n: int = 4, blur_steps: int = 10, seed: int = 0) -> Figure:
    """The paper's Figure 1, regenerated: ``n`` rows of mask, digit A, digit B and their hybrid.

    Digit A is one of the first ``n`` test images, digit B a later test image of another class;
    hybrid = A x mask + B x (1 - mask) (:func:`ffrepro.unsupervised.hybrid_images`).
    """
    x, y = dataset.test.x.cpu(), dataset.test.y.cpu()  # (N, 784), (N,)
    side = int(round(x.shape[1] ** 0.5))
    b_idx = _hybrid_partners(y, n)
    a, b = x[:n], x[b_idx]  # (n, 784)
    masks = hybrid_masks(n, side, blur_steps, torch.Generator().manual_seed(seed))  # (n, side, side)
    hybrids = hybrid_images(a, b, masks)  # (n, 784)
    fig = Figure(figsize=(7.2, 1.9 * n), layout="constrained")
    axes = fig.subplots(n, 4, squeeze=False)
    for r in range(n):
        ya, yb = int(y[r]), int(y[b_idx[r]])
        row = [
            ("mask (white: A)", masks[r]),
            (f"digit A: {ya}", a[r].reshape(side, side)),
            (f"digit B: {yb}", b[r].reshape(side, side)),
            (f"hybrid of {ya} and {yb}", hybrids[r].reshape(side, side)),
        ]
        for ax, (title, image) in zip(axes[r], row):
            _gray_image(ax, image.numpy(), title)
    return fig


def _pairs_at_distance(side: int, max_distance: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per distance d = 1..max_distance: flat indices (i, j) of all pixel pairs d apart along a row or a column."""
    grid = np.arange(side * side).reshape(side, side)
    pairs = []
    for d in range(1, max_distance + 1):
        i = np.concatenate([grid[:, :-d].ravel(), grid[:-d, :].ravel()])
        j = np.concatenate([grid[:, d:].ravel(), grid[d:, :].ravel()])
        pairs.append((i, j))
    return pairs


def _within_image_correlation(x: np.ndarray, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Autocorrelation of each image (centred on its own mean, averaged over positions), mean over
    images. x: (N, D) -> (len(pairs),)"""
    xc = x - x.mean(1, keepdims=True)  # (N, D)
    var = (xc**2).mean(1)  # (N,)
    return np.array([((xc[:, i] * xc[:, j]).mean(1) / var).mean() for i, j in pairs])


def _fixed_position_correlation(x: np.ndarray, pairs: Sequence[tuple[np.ndarray, np.ndarray]], min_std: float = 0.05) -> np.ndarray:
    """Root mean square, over pixel pairs d apart, of the correlation across images between the two
    pixels at those fixed positions; pixels that hardly vary (the blank border) are left out, and the
    1/N that sampling noise adds to a squared correlation is subtracted. x: (N, D) -> (len(pairs),)"""
    n = x.shape[0]
    xc = x - x.mean(0)  # (N, D)
    std = xc.std(0)  # (D,)
    corr = (xc.T @ xc) / n / np.outer(std, std).clip(min=1e-12)  # (D, D)
    varies = std > min_std
    out = []
    for i, j in pairs:
        keep = varies[i] & varies[j]
        out.append(np.sqrt(max(float((corr[i[keep], j[keep]] ** 2).mean()) - 1 / n, 0.0)))
    return np.array(out)


def hybrid_statistics(dataset: Dataset, n_images: int = 500, max_distance: int = 20, blur_steps: int = 10, seed: int = 0) -> pd.DataFrame:
    """Pixel correlations of real digits, shuffled-pixel noise and hybrids, against distance.

    The first ``n_images`` test digits; their pixels shuffled within each image (same ink, same
    histogram, no spatial structure); hybrids of each digit with the next one
    (:func:`ffrepro.unsupervised.hybrid_images`). Distance d is along rows and columns. Columns:
    ("within one image", kind): each image's own autocorrelation, averaged over positions and images;
    ("at fixed positions", kind): see :func:`_fixed_position_correlation`;
    ("mask", "same side"): fraction of pixel pairs on the same side of a hybrid's mask, i.e. taken
    from the same digit. Index: distance 1..max_distance.
    """
    gen = torch.Generator().manual_seed(seed)
    x = dataset.test.x[:n_images].cpu()  # (N, D)
    n, dim = x.shape
    side = int(round(dim**0.5))
    masks = hybrid_masks(n, side, blur_steps, gen)  # (N, side, side)
    images = {
        "digits": x,
        "shuffled": torch.stack([row[torch.randperm(dim, generator=gen)] for row in x]),
        "hybrids": hybrid_images(x, x.roll(-1, 0), masks),
    }
    pairs = _pairs_at_distance(side, max_distance)
    columns = {}
    for kind, imgs in images.items():
        columns[("within one image", kind)] = _within_image_correlation(imgs.double().numpy(), pairs)
    for kind, imgs in images.items():
        columns[("at fixed positions", kind)] = _fixed_position_correlation(imgs.double().numpy(), pairs)
    m = masks.reshape(n, dim).numpy()
    columns[("mask", "same side")] = np.array([(m[:, i] == m[:, j]).mean() for i, j in pairs])
    table = pd.DataFrame(columns, index=pd.Index(range(1, max_distance + 1), name="distance (pixels)"))
    table.columns.names = ["statistic", "images"]
    return table


_KIND_STYLE = {"digits": dict(color="k"), "hybrids": dict(color="C1"), "shuffled": dict(color="C0", ls="--")}


def noise_versus_hybrid_figure(dataset: Dataset, seed: int = 0, stats: pd.DataFrame | None = None, n_images: int = 500, blur_steps: int = 10) -> Figure:
    """Why noise is a poor negative and hybrids a good one (paper section 3.2).

    Top: a test digit, the same pixels shuffled, and a hybrid of that digit with the next one.
    Bottom (from :func:`hybrid_statistics`, computed if ``stats`` is not given): (a) each image's
    autocorrelation, averaged over positions; (b) the correlation between fixed pixel positions,
    across images; (c) hybrids' (b) relative to digits', beside the fraction of pixel pairs that lie on
    the same side of the mask.
    """
    stats = hybrid_statistics(dataset, n_images=n_images, blur_steps=blur_steps, seed=seed) if stats is None else stats
    x = dataset.test.x[:2].cpu()  # (2, 784)
    side = int(round(x.shape[1] ** 0.5))
    gen = torch.Generator().manual_seed(seed)
    shuffled = x[0][torch.randperm(x.shape[1], generator=gen)]
    hybrid = hybrid_images(x[:1], x[1:2], hybrid_masks(1, side, blur_steps, gen))[0]

    fig = Figure(figsize=(8.5, 6.2), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.5])
    examples = [("a test digit", x[0]), ("its pixels shuffled", shuffled), ("a hybrid with the next digit", hybrid)]
    for ax, (title, image) in zip(top.subplots(1, 3), examples):
        _gray_image(ax, image.reshape(side, side).numpy(), title)

    ax_within, ax_fixed, ax_ratio = bottom.subplots(1, 3)
    distance = stats.index.to_numpy()
    for ax, statistic, title in (
        (ax_within, "within one image", "(a) within one image,\naveraged over positions"),
        (ax_fixed, "at fixed positions", "(b) between fixed positions,\nacross images (RMS over pairs)"),
    ):
        for kind in ("digits", "hybrids", "shuffled"):
            ax.plot(distance, stats[(statistic, kind)], marker="o", ms=3, label=kind, **_KIND_STYLE[kind])
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set(title=title, ylabel="correlation")
    ax_within.legend(fontsize="small")
    ratio = stats[("at fixed positions", "hybrids")] / stats[("at fixed positions", "digits")]
    ax_ratio.plot(distance, ratio, marker="o", ms=3, color="C1", label="hybrids ÷ digits, from (b)")
    ax_ratio.plot(distance, stats[("mask", "same side")], color="C2", ls=":", lw=2, label="pixel pairs from one digit")
    ax_ratio.set(title="(c) hybrids relative to digits", ylabel="ratio or fraction", ylim=(0, 1.05))
    ax_ratio.legend(fontsize="small", loc="lower left")
    for ax in (ax_within, ax_fixed, ax_ratio):
        ax.set_xlabel("distance (pixels)")
        ax.grid(alpha=0.3)
    return fig


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
    n = results[0]["config"]["data"]["eval_examples"] or 10_000
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
    middle: the FF loss; right: mean goodness of positive (solid) and negative (dashed) images as
    a multiple of the layer's threshold.
    """
    epochs, beats = _history(results, "neg_beats_pos")  # (S, E, L), fractions
    _, losses = _history(results, "layer_loss")  # (S, E, L)
    _, pos = _history(results, "pos_goodness")
    _, neg = _history(results, "neg_goodness")
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
    ax_loss.set(title="FF loss per layer" + seeds, ylabel="loss per example")
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
        a = np.concatenate([field[:, :-1].ravel(), field[:-1, :].ravel()])
        b = np.concatenate([field[:, 1:].ravel(), field[1:, :].ravel()])
        values.append(np.corrcoef(a, b)[0, 1])
    return float(np.mean(values))
