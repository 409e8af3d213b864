"""Figures and tables of the sleep chapter (paper section 5): the study's variants read back.

The test error of every variant as a table (:func:`sweep_table`) and against K, the number of
updates per phase (:func:`error_vs_phase_length`); the goodness of a fixed probe of positive and
negative data through the first days and nights (:func:`phase_trace_figure`); and learning without
any night (:func:`no_sleep_figure`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler
from matplotlib.figure import Figure

from ffrepro.figures.common import Result, commit_text, mean_error, per_epoch
from ffrepro.report import mean_std_text

Variant = dict[str, Any]  # the settings a variant name encodes: schedule, k, lr, smoothing, goodness


def parse_variant(name: str) -> Variant:
    """"phases-k10-lr0.001-s0.99-max_ssq" -> {"schedule": "phases", "k": 10, "lr": 0.001,
    "smoothing": 0.99, "goodness": "max_ssq"}; k is 0 for the other schedules."""
    schedule, *parts = name.split("-")
    out: Variant = {"schedule": schedule, "k": 0}
    for part in parts:
        if part.startswith("k") and part[1:].isdigit():
            out["k"] = int(part[1:])
        elif part.startswith("lr"):
            out["lr"] = float(part[2:])
        elif part.startswith("s") and part[1:2].isdigit():
            out["smoothing"] = float(part[1:])
        else:
            out["goodness"] = part
    return out


def phase_lengths(table: pd.DataFrame) -> list[int]:
    """The K of :func:`sweep_table`'s phased columns ("K = 10" -> 10), in column order."""
    return [int(c.split("= ")[1]) for c in table.columns if c != "interleaved"]


def sweep_table(results: Mapping[str, Sequence[Result]], mode: str = "goodness") -> pd.DataFrame:
    """Test error (%) of every phased and interleaved variant: rows (goodness, learning rate,
    smoothing), columns "interleaved" and K = 1, 10, ...; the mean over seeds."""
    rows: dict[tuple[str, float, float], dict[str, float]] = {}
    for name, runs in results.items():
        v = parse_variant(name)
        if v["schedule"] == "positive_only":
            continue
        column = "interleaved" if v["schedule"] == "interleaved" else f"K = {v['k']}"
        rows.setdefault((v["goodness"].replace("_", " "), v["lr"], v["smoothing"]), {})[column] = round(mean_error(runs, "test", mode), 2)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["goodness", "learning rate", "smoothing"])
    return table.sort_index()[["interleaved", *(f"K = {k}" for k in sorted(phase_lengths(table)))]]


def shown(table: pd.DataFrame) -> Styler:
    """:func:`sweep_table` for the page: learning rates and smoothings written as set (0.9, not pandas'
    0.9000 beside 0.9999), errors to two decimals."""
    out = table.rename(index=lambda v: f"{v:g}" if isinstance(v, float) else v)
    return out.style.format("{:.2f}")


def error_vs_phase_length(results: Mapping[str, Sequence[Result]], mode: str = "goodness") -> Figure:
    """Test error against K, one panel per (goodness, learning rate), one line per smoothing; the
    interleaved run at the same settings as a dotted line of the same colour."""
    table = sweep_table(results, mode)
    goodnesses = list(dict.fromkeys(table.index.get_level_values(0)))
    lrs = sorted(set(table.index.get_level_values(1)), reverse=True)
    fig = Figure(figsize=(3.4 * len(lrs), 2.9 * len(goodnesses) + 0.5), layout="constrained")
    axes = fig.subplots(len(goodnesses), len(lrs), squeeze=False, sharex=True, sharey=True)
    ks = phase_lengths(table)
    colour = {s: f"C{i}" for i, s in enumerate(sorted(set(table.index.get_level_values(2))))}  # one per smoothing, in every panel
    for r, goodness in enumerate(goodnesses):
        for c, lr in enumerate(lrs):
            ax = axes[r][c]
            if (goodness, lr) not in table.index:
                ax.set_visible(False)
                continue
            for s, row in table.loc[(goodness, lr)].iterrows():
                ax.plot(ks, [row[f"K = {k}"] for k in ks], marker="o", color=colour[s], label=f"smoothing {s:g}")
                ax.axhline(row["interleaved"], color=colour[s], ls=":", lw=1)
            ax.set_xscale("log")
            ax.set_title(f"{goodness}, learning rate {lr:g}", fontsize="small")
            ax.axhline(90, color="0.6", lw=0.8, ls="--")
            ax.grid(alpha=0.3)
            if r == len(goodnesses) - 1:
                ax.set_xlabel("K, updates per phase")
            if c == 0:
                ax.set_ylabel("test error (%)")
    handles = {h.get_label(): h for ax in axes.ravel() for h in ax.get_lines() if not h.get_label().startswith("_")}
    fig.legend([handles[k] for k in sorted(handles)], sorted(handles), loc="outside lower center", ncols=len(handles), fontsize="x-small")
    return fig


def phase_trace_figure(runs: Mapping[str, Result]) -> Figure:
    """Mean goodness of the probe's positive (solid) and negative (dashed) data per layer after each
    day (shaded) and night of the first epoch, one panel per run (name -> result with a trace), on a
    symmetric log scale (linear below 1, so that a goodness of 0 is drawn)."""
    fig = Figure(figsize=(4.2 * len(runs), 3.2), layout="constrained")
    axes = fig.subplots(1, len(runs), squeeze=False)[0]
    for ax, (name, result) in zip(axes, runs.items()):
        trace = result["history"][0]["phase_trace"]
        updates = np.array(trace["update"])
        pos, neg = np.array(trace["positive"]), np.array(trace["negative"])  # (points, layers)
        for start, end, phase in zip(updates[:-1], updates[1:], trace["phase"][1:]):
            if phase == "positive":
                ax.axvspan(start, end, color="gold", alpha=0.15, lw=0)
        for layer in range(pos.shape[1]):
            ax.plot(updates, pos[:, layer], "-o", ms=3, color=f"C{layer}", label=f"layer {layer + 1}")
            ax.plot(updates, neg[:, layer], "--o", ms=3, color=f"C{layer}")
        for t in result["config"]["model"]["hidden"][:1]:
            ax.axhline(t * result["config"]["model"]["threshold_per_unit"], color="0.4", lw=0.8, ls=":")
        ax.set_title(name, fontsize="x-small")
        ax.set_xlabel("updates")
        ax.set_yscale("symlog", linthresh=1.0)  # a day can multiply the goodness, a night take it to 0
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean goodness (symmetric log)")
    axes[0].legend(fontsize="x-small")
    return fig


def no_sleep_figure(results: Mapping[str, Sequence[Result]]) -> Figure:
    """Learning with and without nights (name -> runs): validation error of the softmax readout and
    each layer's mean goodness of positive training data, epoch by epoch."""
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    err_ax, good_ax = fig.subplots(1, 2)
    for i, (name, runs) in enumerate(results.items()):
        epochs, curves = per_epoch(runs, "val_error_softmax")
        err_ax.plot(epochs, curves.mean(0), "-o", ms=3, color=f"C{i}", label=name)
        epochs, goodness = per_epoch(runs, "pos_goodness")  # (S, E, L)
        for layer in range(goodness.shape[2]):
            good_ax.plot(epochs, goodness[:, :, layer].mean(0), "-o" if layer == 0 else "--o", ms=3, color=f"C{i}")
    err_ax.set_ylabel("validation error, softmax (%)")
    good_ax.set_ylabel("mean goodness of positive data")
    good_ax.set_yscale("log")
    for ax in (err_ax, good_ax):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    err_ax.legend(fontsize="x-small")
    return fig


CHANCE = 90.0  # % error of a guess among ten classes
AT_CHANCE = 85.0  # a run that ends above this has not learned (10,000 test images: 3 se is 0.9 points)
LONG_K = 100  # "long" phases: at least this many updates each


def findings(table: pd.DataFrame, default: tuple[str, float, float], long_k: int = LONG_K) -> dict[str, Any]:
    """What the answer paragraph states, read from :func:`sweep_table`'s table: the errors at
    ``default`` settings (goodness, learning rate, smoothing) for each schedule; how many phased runs
    with K >= 10 never learned (error above :data:`AT_CHANCE`); the best run whose phases are at
    least ``long_k`` updates long, with its settings and the same settings learning interleaved; the
    best interleaved run; and the best long-phase run of each goodness."""
    ks = phase_lengths(table)
    long_cols = [f"K = {k}" for k in ks if k >= long_k]
    stacked = table[long_cols].stack()
    (goodness, lr, smoothing), column = stacked.idxmin()[:3], stacked.idxmin()[3]
    phased = table[[f"K = {k}" for k in ks if k >= 10]].to_numpy().ravel()
    best_by_goodness = {g: float(table.loc[g, long_cols].min().min()) for g in dict.fromkeys(table.index.get_level_values(0))}
    return {
        "default": {c: float(v) for c, v in table.loc[default].items()},
        "dead": int((phased > AT_CHANCE).sum()),
        "phased": int(phased.size),
        "best_long": float(stacked.min()),
        "best_long_k": int(column.split("= ")[1]),
        "best_long_setting": (goodness, float(lr), float(smoothing)),
        "best_long_interleaved": float(table.loc[(goodness, lr, smoothing), "interleaved"]),
        "best_interleaved": float(table["interleaved"].min()),
        "best_long_by_goodness": best_by_goodness,
    }


def silent_runs(results: Mapping[str, Sequence[Result]], below: float = 1.0) -> list[str]:
    """The runs whose net fell silent: in the last epoch the mean goodness of positive training
    data was below ``below`` in every layer (every ReLU off, so that no gradient reaches the weights)."""
    return [name for name, runs in results.items() if all(max(r["history"][-1]["pos_goodness"]) < below for r in runs)]


def study_provenance(results: Mapping[str, Mapping[str, Sequence[Result]]]) -> pd.DataFrame:
    """Where a study's runs were made, one row per entry (entry -> variant -> runs): how many runs
    and seeds, whether all finished, the devices, CPUs, thread counts and commits, and the training
    time in all and per run."""
    rows = {}
    for entry, variants in results.items():
        runs = [r for rs in variants.values() for r in rs]
        prov = [r["provenance"] for r in runs]
        train = [r["wall_time_s"]["train"] for r in runs]
        commits = {commit_text(p) for p in prov}
        rows[entry] = {
            "runs": len(runs),
            "seeds": ", ".join(map(str, sorted({r["seed"] for r in runs}))),
            "complete": f"{sum(r['complete'] for r in runs)} of {len(runs)}",
            "device": ", ".join(sorted({p["device"] for p in prov})),
            "cpu": ", ".join(sorted({p.get("cpu_model", "not recorded") for p in prov})),
            "threads": ", ".join(map(str, sorted({p.get("threads", 0) for p in prov}))),
            "git commits": ", ".join(sorted(commits)),
            "training time, all runs (min)": round(sum(train) / 60, 1),
            "training time per run (s)": f"{min(train):.0f}-{max(train):.0f}",
        }
    return pd.DataFrame(rows)


def scale_comparison(other: Mapping[str, Sequence[Result]], here: Mapping[str, Sequence[Result]], mode: str = "goodness") -> pd.DataFrame:
    """A study's variants that have runs at another profile (``other``: the paper's scale, variant ->
    runs, possibly fewer seeds or none) beside the same variants at this page's profile (``here``): per
    variant its schedule, K and smoothing, the other profile's test error (mean ± sd over its seeds)
    and where it ran, and this profile's mean. Rows: by goodness, learning rate and smoothing, then
    interleaved, K ascending, positive only. Empty if no variant has such runs."""
    order = {"interleaved": -1, "phases": 0, "positive_only": 10**9}
    rows = []
    for name, runs in other.items():
        if not runs:
            continue
        v = parse_variant(name)
        values = [r["final"]["test"][mode] for r in runs]
        devices = sorted({r["provenance"]["device"] for r in runs})
        rows.append(((v["goodness"], v["lr"], v["smoothing"], order[v["schedule"]] + v["k"]), {
            "goodness": v["goodness"].replace("_", " "), "learning rate": f"{v['lr']:g}", "smoothing": f"{v['smoothing']:g}",
            "schedule": "interleaved" if v["schedule"] == "interleaved" else ("positive only (no nights)" if v["schedule"] == "positive_only" else f"K = {v['k']}"),
            "test error % (this scale)": mean_std_text(values),
            "epochs": ", ".join(sorted({f"{r['epochs_done']}/{r['config']['optim']['epochs']}" for r in runs})),
            "ran on": ", ".join(devices),
            "test error % (page's profile)": round(mean_error(here[name], "test", mode), 2) if here.get(name) else float("nan"),
        }))
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame([row for _, row in sorted(rows, key=lambda r: r[0])]).set_index(["goodness", "learning rate", "smoothing", "schedule"])


def scale_sentence(other: Mapping[str, Sequence[Result]], entry: str, other_profile: str = "paper") -> str:
    """What the page says above :func:`scale_comparison`: how many of the study's variants have runs at
    ``other_profile`` (how many with three seeds), and the command that makes the rest, if any is missing."""
    with_runs = [runs for runs in other.values() if runs]
    three = sum(len({r["seed"] for r in runs}) >= 3 for runs in with_runs)
    command = f"`python -m ffrepro run {entry} --with-variants --profile {other_profile} --seed 0 1 2`"
    if not with_runs:
        return f"No variant of {entry} has {other_profile}-profile runs yet; {command} makes them."
    if three == len(other):
        return f"All {len(other)} variants of {entry} have {other_profile}-profile runs with three seeds; the table shows them beside this page's profile."
    return (f"{len(with_runs)} of the study's {len(other)} variants of {entry} have {other_profile}-profile runs so far "
            f"({three} with three seeds); the table shows them beside this page's profile, and {command} makes the rest.")


def scale_answer(other: Mapping[str, Sequence[Result]], mode: str, settings: str = "lr0.01-s0.9-max_ssq", long_k: int = 10) -> str:
    """The answer's sentence on the paper's scale (``other``: variant -> runs at that profile): at
    ``settings`` (ffcode's), the error of interleaved learning, of phases of one update and of every
    phase length of at least ``long_k`` updates that has runs, with their seeds, and how much worse
    the best of the long phases is than interleaved. Says so where those runs are not on disk yet."""
    interleaved, k1 = other.get(f"interleaved-{settings}") or [], other.get(f"phases-k1-{settings}") or []
    parsed = {name: parse_variant(name) for name, runs in other.items() if runs and name.endswith(settings)}
    long = sorted(((v["k"], other[name]) for name, v in parsed.items() if v["schedule"] == "phases" and v["k"] >= long_k), key=lambda kv: kv[0])
    if not interleaved or not long:
        return (f"At the paper's scale, interleaved learning and phases of {long_k} or more updates at ffcode's settings have not "
                "both run yet.")

    def err(runs: Sequence[Result]) -> str:
        return f"{mean_error(runs, 'test', mode):.2f} % ({len(runs)} seed{'s' if len(runs) > 1 else ''})"

    phases = ", ".join(f"of {k} updates {err(runs)}" for k, runs in long)
    ones = f", phases of one update {err(k1)}" if k1 else ""
    best_long = min(mean_error(runs, "test", mode) for _, runs in long)
    gap = best_long - mean_error(interleaved, "test", mode)
    no_nights = other.get(f"positive_only-{settings}") or []
    without = ""
    if no_nights:
        night_gap = best_long - mean_error(no_nights, "test", mode)
        without = (f"; with no night at all the readout reaches {err(no_nights)}, so the best of the long phases is "
                   f"{abs(night_gap):.1f} points {'worse' if night_gap > 0 else 'better'} than never showing negative data")
    return (f"At the paper's scale (4 x 2000) and ffcode's settings, interleaved learning ends at {err(interleaved)}{ones}, "
            f"phases {phases}: the best of the phases of {long_k} or more updates is {gap:.1f} points worse than interleaved{without}.")
