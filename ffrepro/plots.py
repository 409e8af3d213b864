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
                if isinstance(value, list) and all(isinstance(v, int) for v in value):
                    value = _short_hidden("x".join(map(str, value)))
                flat[f"{section}.{name}"] = "all" if value is None else str(value)  # None: all of the data
        columns[exp] = flat
    return pd.DataFrame(columns).fillna("–")  # "–": the field does not exist for this method


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
    if results[0]["config"]["method"] == "bp":
        epochs, err = _history(results, "val_error")
        _seed_lines(ax_err, epochs, err, seeds)
        ax_err.set(title="validation error", ylabel="error (%)")
        _, loss = _history(results, "train_loss")
        _seed_lines(ax_loss, epochs, loss, seeds)
        ax_loss.set(title="training loss (cross-entropy)", ylabel="loss")
        if many_seeds:
            ax_err.legend(fontsize="small")
    else:
        if "val_error_softmax" in history:
            epochs, err = _history(results, "val_error_softmax")
            _seed_lines(ax_err, epochs, err, seeds)
            ax_err.set(title="validation error, softmax readout", ylabel="error (%)")
            if many_seeds:
                ax_err.legend(fontsize="small")
        else:
            epochs, beats = _history(results, "neg_beats_pos")  # (S, E, L), fractions
            for layer, curve in enumerate(100 * beats.mean(axis=0).T):
                ax_err.plot(epochs, curve, marker="o", ms=3, color=f"C{layer}", label=f"layer {layer + 1}")
            ax_err.set(title="negative goodness above positive", ylabel="training pairs (%)")
            ax_err.legend(fontsize="small")
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
    fig = Figure(figsize=(4.5 * ncols if ncols > 1 else 5, 3.0 * nrows), layout="constrained")
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
