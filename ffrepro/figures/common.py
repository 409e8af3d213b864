"""What several chapters of the book share: their results, their tables, learning curves and goodness.

Loading a chapter's results (:func:`require_results`) and, while the notebooks are executed for the
site, the list of every results file they read (:func:`record_results_reads`); the paper-vs-reproduced
table of each chapter (:func:`overview_table`) and its runs, errors by inference mode, configuration and provenance; the
learning curves of BP and supervised FF (:func:`learning_curves`) and the goodness histograms of every
FF chapter (:func:`goodness_histograms`); and the small drawing helpers of the chapter modules.
Errors are in percent.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ffrepro.config import PROFILES
from ffrepro.cost import achieved
from ffrepro.registry import get_experiment
from ffrepro.report import mean_std_text, metric_value, summary_rows
from ffrepro.results import REPO_ROOT, load_results, results_root

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


# Which results files a site was built from (``make publish`` refuses a site that read one not committed):
# `make notebooks` names a manifest in this variable, and every notebook kernel that imports this module appends
# to it each results file it opens for reading. Relative paths are taken from the repository root.
RESULTS_READ_ENV = "FFREPRO_RESULTS_READ"
_recording: dict[str, Path] = {}  # "manifest" -> where this process records, once installed


def git_blob_sha(data: bytes) -> str:
    """The id git gives a file with these bytes (``git hash-object``), to compare with the committed one."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def results_read_line(path: str, data: bytes) -> str:
    """One manifest line, ``BLOB PATH``: the file's git blob id, and its path relative to the repository root
    (absolute if it lies outside the repository, e.g. under a FFREPRO_RESULTS elsewhere)."""
    root = str(REPO_ROOT) + os.sep
    name = Path(path[len(root):]).as_posix() if path.startswith(root) else path
    return f"{git_blob_sha(data)} {name}\n"


def record_results_reads(manifest: str | os.PathLike[str] | None = None) -> Path | None:
    """From now on, append to ``manifest`` (default: the file named by ``$FFREPRO_RESULTS_READ``; nothing if
    unset) a :func:`results_read_line` for every file under :func:`ffrepro.results.results_root` that this
    process opens for reading, each (path, content) once. It watches ``open`` itself (a :func:`sys.addaudithook`
    hook, for the life of the process), so every reader counts: :func:`ffrepro.results.load_results`, the memory
    study, the download zips of :mod:`ffrepro.figures.chapter`. -> the manifest, or None when not recording."""
    if "manifest" in _recording:
        return _recording["manifest"]
    if manifest is None:
        manifest = os.environ.get(RESULTS_READ_ENV) or None
        if manifest is None:
            return None
    target = Path(manifest) if Path(manifest).is_absolute() else REPO_ROOT / manifest
    root = results_root()
    prefixes = tuple({os.path.abspath(root) + os.sep, os.path.realpath(root) + os.sep})
    seen: set[str] = set()
    busy = threading.local()  # the hook's own reads and writes open files too

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event != "open" or getattr(busy, "on", False):
            return
        path, mode, flags = args
        if isinstance(path, int):
            return
        if (mode is None and flags & (os.O_WRONLY | os.O_RDWR)) or (isinstance(mode, str) and any(c in mode for c in "wax+")):
            return
        name = os.path.abspath(os.fsdecode(path))
        if not name.startswith(prefixes):
            return
        busy.on = True
        try:
            try:
                with open(name, "rb") as f:
                    data = f.read()
            except OSError:
                return  # a directory, or gone: the caller's own open fails or reads nothing
            line = results_read_line(name, data)
            if line not in seen:
                seen.add(line)
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "a") as f:
                    f.write(line)
        finally:
            busy.on = False

    sys.addaudithook(hook)
    _recording["manifest"] = target
    return target


if os.environ.get(RESULTS_READ_ENV):  # only in the notebooks `make notebooks` executes; importing is otherwise inert
    record_results_reads()


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
    table = table[OVERVIEW_COLUMNS].assign(hidden=table["hidden"].map(short_hidden))
    return table.set_index(["experiment", "profile"])


def short_hidden(hidden: str) -> str:
    """"100x100x100" -> "3 × 100"; layers of different widths are left as they are."""
    widths = hidden.split("x")
    return f"{len(widths)} × {widths[0]}" if len(set(widths)) == 1 else hidden.replace("x", " × ")


def runs_table(exp_ids: Sequence[str] | None, profiles: Sequence[str] = PROFILES) -> pd.DataFrame:
    """Which seeds ran where, in what precision and for how long, per (experiment, profile), with the
    training cost (:func:`ffrepro.cost.achieved`: analytic TFLOP per epoch, measured seconds per epoch
    and achieved TFLOP/s, means over the seeds): the rest of :func:`paper_table`."""
    table = paper_table(exp_ids, profiles)
    if table.empty:
        return table
    costs = []
    for exp_id, profile in zip(table["experiment"], table["profile"]):
        results = load_results(exp_id, profile)
        each = [achieved(r) for r in results]
        costs.append({
            "precision": ", ".join(sorted({r["provenance"].get("precision", "fp32") for r in results})),
            "TFLOP / epoch": round(each[0]["tflop_per_epoch"], 2),
            "s / epoch": round(float(np.mean([c["seconds_per_epoch"] for c in each])), 1),
            "TFLOP/s": round(float(np.mean([c["tflops"] for c in each])), 3),
        })
    table = pd.concat([table.reset_index(drop=True), pd.DataFrame(costs)], axis=1)
    return table[["experiment", "profile", "seeds", "device", "precision", "TFLOP / epoch", "s / epoch", "TFLOP/s", "wall time (min)"]].set_index(["experiment", "profile"])


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


def _trained_with(prov: Mapping[str, Any]) -> str:
    """"alone", or the seeds a run was stacked with (:mod:`ffrepro.stacked`), whose epochs' time it shares."""
    seeds = prov.get("stacked_seeds")
    return f"stacked with seeds {', '.join(map(str, seeds))} (each epoch's time split equally)" if seeds else "alone"


def commit_text(prov: Mapping[str, Any]) -> str:
    """The commit a run was made from, as the provenance tables show it: its first 10 digits (or
    "unknown"), then " (uncommitted changes)" where the tree was dirty, or " (changes unknown)" where
    nothing could tell (``git_dirty`` "unknown", :func:`ffrepro.results.git_state`)."""
    dirty = prov.get("git_dirty")
    return (prov.get("git_commit") or "unknown")[:10] + (" (uncommitted changes)" if dirty is True else " (changes unknown)" if dirty == "unknown" else "")


def provenance_table(results: Mapping[str, Sequence[Result]]) -> pd.DataFrame:
    """Where, when, in what precision, how fast (seconds per epoch and achieved TFLOP/s,
    :func:`ffrepro.cost.achieved`) and with which code each run was made: one column per (experiment, seed)."""
    columns = {}
    for exp, rs in results.items():
        for r in rs:
            prov = r["provenance"]
            commit = commit_text(prov)
            cost = achieved(r)
            columns[(exp, f"seed {r['seed']}")] = {
                "complete": "yes" if r["complete"] else f"no ({r['epochs_done']} epochs)",
                "device": prov["device"],
                "precision": prov.get("precision", "fp32"),
                "trained": _trained_with(prov),
                "s / epoch (TFLOP/s)": f"{cost['seconds_per_epoch']:.1f} ({cost['tflops']:.3f})",
                "cpu": prov.get("cpu_model", "not recorded"),  # recorded since the smoke references
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
                    value = short_hidden("x".join(map(str, value)))
                elif isinstance(value, list) and all(isinstance(v, dict) and "grid" in v for v in value):
                    value = "; ".join(_local_spec_text(v) for v in value)
                flat[f"{section}.{name}"] = "all" if value is None else str(value)  # None: all of the data
        columns[exp] = flat
    return pd.DataFrame(columns).fillna("–")  # "–": the field does not exist for this method


def _local_spec_text(spec: Mapping[str, int]) -> str:
    """One locally connected layer (a ``LocalSpec`` as a dict), short enough for a table cell:
    grid x grid x channels (window/stride), e.g. "4×4×128 (10/6)"."""
    return f"{spec['grid']}×{spec['grid']}×{spec['channels']} ({spec['window']}/{spec['stride']})"


def per_epoch(results: Sequence[Result], key: str | Callable[[Mapping[str, Any]], Any]) -> tuple[np.ndarray, np.ndarray]:
    """Epochs (E,) and one curve per seed, (S, E), or (S, E, L) for per-layer values; cut to the shortest run.
    ``key`` names a field of the per-epoch history, or computes the value from one epoch's entry."""
    value = key if callable(key) else (lambda h: h[key])
    n = min(len(r["history"]) for r in results)
    epochs = np.array([h["epoch"] for h in results[0]["history"][:n]])
    return epochs, np.array([[value(h) for h in r["history"][:n]] for r in results], dtype=float)


def _loss_with_peer_term(h: Mapping[str, Any]) -> Any:
    """One epoch's FF loss per layer including the peer-normalisation term: older results logged
    only this sum ("layer_loss"), newer ones its two parts."""
    return h["layer_loss"] if "layer_loss" in h else np.add(h["ff_loss"], h["peer_loss"])


def ff_loss_per_layer(results: Sequence[Result]) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Epochs (E,), each seed's FF loss per layer (S, E, L), and a panel title and axis label that
    say what it is.

    The logistic FF loss on positive and negative data ("ff_loss") where every seed logged it.
    Results written before the peer-normalisation term was logged apart have only "layer_loss", the
    logistic loss plus that term (which can make it negative); then every seed's sum is shown, and
    the labels say so, unless no seed used peer normalisation (the sum is the logistic loss).
    """
    plain = "FF loss per layer", "logistic loss per example"
    if all("ff_loss" in h for r in results for h in r["history"]):
        return (*per_epoch(results, "ff_loss"), *plain)
    epochs, loss = per_epoch(results, _loss_with_peer_term)
    if not any(r["config"]["model"].get("peer_normalization") for r in results):
        return epochs, loss, *plain
    return epochs, loss, "FF loss + peer term per layer", "loss per example\n(logistic + peer normalisation)"


def seed_lines(ax: Any, epochs: np.ndarray, curves: np.ndarray, seeds: Sequence[int], color: str = "C0") -> None:
    """One line per seed (S, E) on ``ax``, labelled with the seed."""
    for seed, curve in zip(seeds, curves):
        ax.plot(epochs, curve, marker="o", ms=3, color=color, alpha=0.5 if len(curves) > 1 else 1.0, label=f"seed {seed}")


def gray_image(ax: Any, image: np.ndarray, title: str | None = None, fontsize: str = "medium") -> None:
    """An image with values in [0, 1] (H, W) on ``ax``, 0 black and 1 white, without ticks."""
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)


def learning_curves(results: Sequence[Result]) -> Figure:
    """Per-epoch history of one experiment, one line per seed.

    FF: validation error of the softmax readout (or, without one, the percentage of training pairs
    whose negative beat the positive, per layer) and each layer's FF loss (mean over seeds; see
    :func:`ff_loss_per_layer` for what older results logged). BP: validation error and training loss.
    """
    seeds = [r["seed"] for r in results]
    many_seeds = len(results) > 1
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    ax_err, ax_loss = fig.subplots(1, 2)
    history = results[0]["history"][0]
    is_bp = results[0]["config"]["method"] == "bp"
    val_key = "val_error" if is_bp else ("val_error_softmax" if "val_error_softmax" in history else None)
    if val_key is not None:  # the validation error measured every epoch
        epochs, err = per_epoch(results, val_key)
        seed_lines(ax_err, epochs, err, seeds)
        ax_err.set(title="validation error" + ("" if is_bp else ", softmax readout"), ylabel="error (%)")
        if many_seeds:
            ax_err.legend(fontsize="small")
    else:  # unsupervised FF has no per-epoch error: how often negatives out-score positives
        epochs, beats = per_epoch(results, "neg_beats_pos")  # (S, E, L), fractions
        for layer, curve in enumerate(100 * beats.mean(axis=0).T):
            ax_err.plot(epochs, curve, marker="o", ms=3, color=f"C{layer}", label=f"layer {layer + 1}")
        ax_err.set(title="negative goodness above positive", ylabel="training pairs (%)")
        ax_err.legend(fontsize="small")
    if is_bp:
        _, loss = per_epoch(results, "train_loss")
        seed_lines(ax_loss, epochs, loss, seeds)
        ax_loss.set(title="training loss (cross-entropy)", ylabel="loss")
    else:
        _, losses, title, ylabel = ff_loss_per_layer(results)  # (S, E, L)
        for layer, curve in enumerate(losses.mean(axis=0).T):  # (L, E)
            ax_loss.plot(epochs, curve, marker="o", ms=3, color=f"C{layer}", label=f"layer {layer + 1}")
        ax_loss.set(title=title + (f" (mean of {len(results)} seeds)" if many_seeds else ""), ylabel=ylabel)
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


def neighbour_correlation(field: np.ndarray) -> float:
    """Correlation between horizontally or vertically adjacent weights of one receptive field (H, W):
    about 0 for random weights, clearly positive for smooth, stroke-like fields."""
    a = np.concatenate([field[:, :-1].ravel(), field[:-1, :].ravel()])
    b = np.concatenate([field[:, 1:].ravel(), field[1:, :].ravel()])
    return float(np.corrcoef(a, b)[0, 1])


def versus(a: float, b: float, n: int) -> str:
    """How error ``a`` compares with error ``b`` (both %, each on ``n`` test images): "better
    than", "worse than", or "as well as" when the difference is within 2 standard errors of it."""
    se = (sum(e / 100 * (1 - e / 100) for e in (a, b)) / n) ** 0.5 * 100
    return "as well as" if abs(a - b) <= 2 * se else "better than" if a < b else "worse than"


def precision_validation(exp_id: str, variant: str, profile: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """An entry's fp32 seeds (those whose provenance says fp32) against its reduced-precision variant's seeds
    (every seed on disk at ``profile``): test error per seed, mean ± sd, and seconds per epoch (each run's
    median epoch, mean over the seeds; the two precisions' speeds are compared only over the runs made at a
    commit both have runs of, made side by side, since one VM's speed moves from day to day). The variant passes if its mean
    lies within two standard deviations of the fp32 seeds' mean (the seeds' spread; with one fp32 seed,
    within the 10k test set's sampling error of ~0.15 points at this error, so that one-seed runs are
    not judged by a spread they do not have).
    -> (table, {"within": bool, "difference": points, "allowed": points, "speed_up": x, "fp32_seeds", "variant_seeds"})"""
    exp = get_experiment(exp_id)
    # the entry's seeds that ran in fp32 (model.precision "auto" may have run some in bf16)
    fp32 = [r for r in load_results(exp_id, profile) if r["provenance"].get("precision", "fp32") == "fp32"]
    runs = {"fp32": fp32, variant: load_results(f"{exp_id}/{variant}", profile)}
    if not runs["fp32"] or not runs[variant]:
        raise FileNotFoundError(f"no results of {exp_id} and {exp_id}/{variant} at profile {profile!r}: "
                                f"`python -m ffrepro run {exp_id} {exp_id}/{variant} --profile {profile} --seed 0 1 2`")
    rows, stats = [], {}
    commits = [{r["provenance"].get("git_commit") for r in results} for results in runs.values()]
    shared = commits[0] & commits[1]  # commits with runs of both precisions: their speeds are compared
    # the machines (and thread counts) of those runs
    machines = {(r["provenance"]["device"], r["provenance"].get("cpu_model")) for results in runs.values() for r in results if r["provenance"].get("git_commit") in shared}

    def epoch_seconds(results: list[Result]) -> float:
        # each run's median epoch: a spell of other jobs on a shared machine moves a mean, not the median
        return statistics.fmean(statistics.median(h["seconds"] for h in r["history"]) if r["history"] else achieved(r)["seconds_per_epoch"] for r in results)

    for name, results in runs.items():
        values = [metric_value(r, exp.metric) for r in results]
        side_by_side = [r for r in results if r["provenance"].get("git_commit") in shared]
        stats[name] = (values, epoch_seconds(side_by_side) if side_by_side else float("nan"))
        speed = epoch_seconds(results)
        rows.append({"precision": name, "seeds": ", ".join(str(r["seed"]) for r in results),
                     "test error per seed %": ", ".join(f"{v:.2f}" for v in values), "test error %": mean_std_text(values),
                     "s / epoch": round(speed, 1), "device": results[0]["provenance"]["device"]})
    (ref, ref_speed), (low, low_speed) = stats["fp32"], stats[variant]
    allowed = 2 * statistics.stdev(ref) if len(ref) > 1 else 0.15
    difference = statistics.fmean(low) - statistics.fmean(ref)
    verdict = {"within": abs(difference) <= allowed, "difference": difference, "allowed": allowed, "speed_up": ref_speed / low_speed,
               "fp32_seeds": len(ref), "variant_seeds": len(low), "same_machine": len(machines) == 1 and bool(shared), "fp32_mean": statistics.fmean(ref),
               "variant_mean": statistics.fmean(low)}
    return pd.DataFrame(rows).set_index("precision"), verdict


def scale_precision_sentence(verdict: dict[str, Any] | None, profile: str, exp_id: str, variant: str = "bf16") -> str:
    """What the chapter says of :func:`precision_validation` at another ``profile`` (the paper's scale,
    beside a book built at a smaller one); speeds are compared only where every run shares a machine and
    some commit has runs of both precisions."""
    if verdict is None:
        return (f"No {profile}-profile run of the {variant} variant is on disk yet (`python -m ffrepro run "
                f"{exp_id}/{variant} --profile {profile} --seed 0 1 2`).")
    speed = (f", and an epoch in {variant} was {verdict['speed_up']:.1f} times as fast as in fp32 (the runs of the commits that have both)" if verdict["same_machine"] else
             "; the runs were not made side by side on one machine (the device column; no commit has runs of both), so their seconds per epoch are not compared")
    return (f"At the {profile} profile, {verdict['variant_seeds']} {variant} seed(s) give {verdict['variant_mean']:.2f} % against "
            f"{verdict['fp32_mean']:.2f} % for {verdict['fp32_seeds']} fp32 seed(s): {round(verdict['difference'], 2) + 0.0:+.2f} points, "
            f"**{'within' if verdict['within'] else 'outside'}** the fp32 seeds' spread ({verdict['allowed']:.2f} points){speed}.")


def precision_section(method_name: str, label: str, profile: str) -> tuple[str, pd.DataFrame | None]:
    """The validation of a method's bf16 products (:data:`ffrepro.methods.METHODS`' ``bf16_validation``) at
    ``profile``: what its chapter says of it (the fp32 and bf16 seeds' means, their difference against the
    fp32 seeds' spread, the speed where one machine ran both, and whether paper runs use bf16) and the
    table of seeds, or only the sentence where its runs are not on disk. ``label``: the method as the
    sentence names it."""
    from ffrepro.methods import METHODS

    method = METHODS[method_name]
    assert method.bf16_validation is not None
    exp_id, variant = method.bf16_validation
    try:
        table, verdict = precision_validation(exp_id, variant, profile)
    except FileNotFoundError:
        table, verdict = None, None
    use = (f"so `model.precision = \"auto\"` takes bf16 for {label[0].lower() + label[1:]} where there are bf16 units" if method.bf16 == "validated" else
           f"paper runs stay in fp32 until three fp32 and three bf16 seeds of {exp_id} at the cpu profile are committed "
           "within the fp32 seeds' spread (ffrepro/methods.py)")
    return f"{scale_precision_sentence(verdict, profile, exp_id, variant)} {label}'s bf16 is {method.bf16}: {use}.", table

