"""Figures and tables of the sleep chapter (paper section 5): the study's variants read back.

The test error of every variant as a table (:func:`sweep_table`) and against K, the number of
updates per phase (:func:`error_vs_phase_length`); the goodness of a fixed probe of positive and
negative data through the first days and nights (:func:`phase_trace_figure`); and learning without
any night (:func:`no_sleep_figure`). :func:`facts` computes every number and verdict the chapter's
text states and :func:`figures` every figure it glues, so the notebook only glues them.

A variant is keyed by its parameters, a :class:`Setting` (schedule, K, learning rate, smoothing,
goodness), never by a name rebuilt from them: :func:`load` returns the study's runs so keyed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler
from matplotlib.figure import Figure

from ffrepro.book import Page
from ffrepro.config import FFConfig, OptimConfig
from ffrepro.data import TRAIN_SIZE
from ffrepro.experiments.mnist_sleep import variant_name
from ffrepro.figures.common import Result, commit_text, mean_error, per_epoch, require_results, versus
from ffrepro.registry import get_experiment, variant_ids
from ffrepro.report import mean_std_text
from ffrepro.results import load_results


PAGES = (  # this module's pages of the book (ffrepro.book)
    Page('mnist-ff-sleep', 'asks whether FF can learn with its positive and negative data in long separate phases, "day" and "night" (section 5), and answers with a sweep of runs over the length of the phases, the learning rate, the gradient smoothing and the goodness, for supervised and unsupervised FF.', 90),
    Page('ff-and-gans', "compares FF with generative adversarial nets, with the book's two cases of a net making its own negative data.", 120),
)

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


class Setting(NamedTuple):
    """A variant of a sleep study by its parameters; the defaults are ffcode's learning rate,
    smoothing and goodness (ffrepro.config's defaults), so ``Setting("positive_only")`` is the run
    without nights at ffcode's settings and ``Setting("phases", 10)`` phases of 10 updates."""

    schedule: str  # "interleaved", "phases" or "positive_only"
    k: int = 0  # updates per phase; 0 for the other schedules
    lr: float = OptimConfig().lr
    smoothing: float = OptimConfig().smoothing
    goodness: str = FFConfig().goodness  # "max_ssq" or "min_ssq"

    @staticmethod
    def of(name: str) -> "Setting":
        """The setting a variant's name encodes (see :func:`parse_variant`)."""
        v = parse_variant(name)
        return Setting(v["schedule"], v["k"], v["lr"], v["smoothing"], v["goodness"])

    @property
    def name(self) -> str:
        """The variant's name in the registry, for titles and legends."""
        return variant_name(self.schedule, self.k or None, f"{self.lr:g}", f"{self.smoothing:g}", self.goodness)


Runs = dict[Setting, list[Result]]  # a study's runs, variant by variant

# ffcode's goodness, learning rate and smoothing as sweep_table writes a row's index.
DEFAULT = (Setting("interleaved").goodness.replace("_", " "), Setting("interleaved").lr, Setting("interleaved").smoothing)


def by_setting(results: Mapping[str, Sequence[Result]]) -> Runs:
    """Runs keyed by variant name -> the same runs keyed by :class:`Setting`."""
    return {Setting.of(name): list(runs) for name, runs in results.items()}


def load(entry: str, profile: str, seeds: Sequence[int] | None = None, required: bool = True) -> Runs:
    """Every variant's runs of a study (``entry``) at ``profile``, keyed by :class:`Setting`. With
    ``required``, a missing seed is an error that names the command to run; without it a variant
    with no runs maps to an empty list (the paper-scale table shows what has run so far)."""
    read = (lambda v: require_results(v, profile, seeds)) if required else (lambda v: load_results(v, profile))
    return {Setting.of(v.split("/", 1)[1]): read(v) for v in variant_ids(entry)}


def phase_lengths(table: pd.DataFrame) -> list[int]:
    """The K of :func:`sweep_table`'s phased columns ("K = 10" -> 10), in column order."""
    return [int(c.split("= ")[1]) for c in table.columns if c != "interleaved"]


def sweep_table(results: Mapping[Setting, Sequence[Result]], mode: str = "goodness") -> pd.DataFrame:
    """Test error (%) of every phased and interleaved variant: rows (goodness, learning rate,
    smoothing), columns "interleaved" and K = 1, 10, ...; the mean over seeds."""
    rows: dict[tuple[str, float, float], dict[str, float]] = {}
    for v, runs in results.items():
        if v.schedule == "positive_only":
            continue
        column = "interleaved" if v.schedule == "interleaved" else f"K = {v.k}"
        rows.setdefault((v.goodness.replace("_", " "), v.lr, v.smoothing), {})[column] = round(mean_error(runs, "test", mode), 2)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["goodness", "learning rate", "smoothing"])
    return table.sort_index()[["interleaved", *(f"K = {k}" for k in sorted(phase_lengths(table)))]]


def shown(table: pd.DataFrame) -> Styler:
    """:func:`sweep_table` for the page: learning rates and smoothings written as set (0.9, not pandas'
    0.9000 beside 0.9999), errors to two decimals."""
    out = table.rename(index=lambda v: f"{v:g}" if isinstance(v, float) else v)
    return out.style.format("{:.2f}")


def error_vs_phase_length(results: Mapping[Setting, Sequence[Result]], mode: str = "goodness") -> Figure:
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
    with K >= 10 never learned (error above :data:`AT_CHANCE`), and of those how many had an interleaved twin
    (the same settings without phases) that learned; the best run whose phases are at
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
        # of those, the runs whose interleaved twin (the same settings without phases) did learn
        "dead_alone": sum(int(((table[f"K = {k}"] > AT_CHANCE) & (table["interleaved"] <= AT_CHANCE)).sum()) for k in ks if k >= 10),
        "phased": int(phased.size),
        "best_long": float(stacked.min()),
        "best_long_k": int(column.split("= ")[1]),
        "best_long_setting": (goodness, float(lr), float(smoothing)),
        "best_long_interleaved": float(table.loc[(goodness, lr, smoothing), "interleaved"]),
        "best_interleaved": float(table["interleaved"].min()),
        "best_long_by_goodness": best_by_goodness,
    }


def twins(table: pd.DataFrame, n_test: int, min_k: int = 10) -> dict[str, Any]:
    """Every phased run with phases of at least ``min_k`` updates judged against its interleaved twin (the same
    goodness, learning rate and smoothing without phases) by :func:`ffrepro.figures.common.versus` on ``n_test``
    images: how many do worse, as well and better (``counts``, and ``n``), and the same at the lowest
    learning rate (``lowest_counts``, ``lowest_n``, ``lowest_lr``)."""
    columns = [f"K = {k}" for k in phase_lengths(table) if k >= min_k]
    lowest_lr = min(table.index.get_level_values(1))
    counts = {"worse than": 0, "as well as": 0, "better than": 0}
    lowest = dict(counts)
    for (_, lr, _), row in table.iterrows():
        for column in columns:
            reading = versus(row[column], row["interleaved"], n_test)
            counts[reading] += 1
            if lr == lowest_lr:
                lowest[reading] += 1
    return {"counts": counts, "n": sum(counts.values()), "lowest_counts": lowest, "lowest_n": sum(lowest.values()), "lowest_lr": lowest_lr}


def silent_runs(results: Mapping[Setting, Sequence[Result]], below: float = 1.0) -> list[Setting]:
    """The runs whose net fell silent: in the last epoch the mean goodness of positive training
    data was below ``below`` in every layer (every ReLU off, so that no gradient reaches the weights)."""
    return [name for name, runs in results.items() if all(max(r["history"][-1]["pos_goodness"]) < below for r in runs)]


def study_provenance(results: Mapping[str, Mapping[Setting, Sequence[Result]]]) -> pd.DataFrame:
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


def scale_comparison(other: Mapping[Setting, Sequence[Result]], here: Mapping[Setting, Sequence[Result]], mode: str = "goodness") -> pd.DataFrame:
    """A study's variants that have runs at another profile (``other``: the paper's scale, variant ->
    runs, possibly fewer seeds or none) beside the same variants at this page's profile (``here``): per
    variant its schedule, K and smoothing, the other profile's test error (mean ± sd over its seeds)
    and where it ran, and this profile's mean. Rows: by goodness, learning rate and smoothing, then
    interleaved, K ascending, positive only. Empty if no variant has such runs."""
    order = {"interleaved": -1, "phases": 0, "positive_only": 10**9}
    rows = []
    for v, runs in other.items():
        if not runs:
            continue
        values = [r["final"]["test"][mode] for r in runs]
        devices = sorted({r["provenance"]["device"] for r in runs})
        rows.append(((v.goodness, v.lr, v.smoothing, order[v.schedule] + v.k), {
            "goodness": v.goodness.replace("_", " "), "learning rate": f"{v.lr:g}", "smoothing": f"{v.smoothing:g}",
            "schedule": "interleaved" if v.schedule == "interleaved" else ("positive only (no nights)" if v.schedule == "positive_only" else f"K = {v.k}"),
            "test error % (this scale)": mean_std_text(values),
            "epochs": ", ".join(sorted({f"{r['epochs_done']}/{r['config']['optim']['epochs']}" for r in runs})),
            "ran on": ", ".join(devices),
            "test error % (page's profile)": round(mean_error(here[v], "test", mode), 2) if here.get(v) else float("nan"),
        }))
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame([row for _, row in sorted(rows, key=lambda r: r[0])]).set_index(["goodness", "learning rate", "smoothing", "schedule"])


def scale_sentence(other: Mapping[Setting, Sequence[Result]], entry: str, other_profile: str = "paper") -> str:
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


def scale_answer(other: Mapping[Setting, Sequence[Result]], mode: str, long_k: int = 10) -> str:
    """The answer's sentence on the paper's scale (``other``: variant -> runs at that profile): at
    ffcode's settings (:class:`Setting`'s defaults), the error of interleaved learning, of phases of one
    update and of every phase length of at least ``long_k`` updates that has runs, with their seeds,
    and how much worse the best of the long phases is than interleaved. Says so where those runs are
    not on disk yet."""
    interleaved, k1 = other.get(Setting("interleaved")) or [], other.get(Setting("phases", 1)) or []
    long = sorted(((v.k, runs) for v, runs in other.items() if runs and v.schedule == "phases" and v.k >= long_k
                   and v == Setting("phases", v.k)), key=lambda kv: kv[0])
    if not interleaved or not long:
        return (f"At the paper's scale, interleaved learning and phases of {long_k} or more updates at ffcode's settings have not "
                "both run yet.")

    def err(runs: Sequence[Result]) -> str:
        return f"{mean_error(runs, 'test', mode):.2f} % ({len(runs)} seed{'s' if len(runs) > 1 else ''})"

    phases = ", ".join(f"of {k} updates {err(runs)}" for k, runs in long)
    ones = f", phases of one update {err(k1)}" if k1 else ""
    best_long = min(mean_error(runs, "test", mode) for _, runs in long)
    gap = best_long - mean_error(interleaved, "test", mode)
    no_nights = other.get(Setting("positive_only")) or []
    without = ""
    if no_nights:
        night_gap = best_long - mean_error(no_nights, "test", mode)
        without = (f"; with no night at all the readout reaches {err(no_nights)}, so the best of the long phases is "
                   f"{abs(night_gap):.1f} points {'worse' if night_gap > 0 else 'better'} than never showing negative data")
    return (f"At the paper's scale (4 x 2000) and ffcode's settings, interleaved learning ends at {err(interleaved)}{ones}, "
            f"phases {phases}: the best of the phases of {long_k} or more updates is {gap:.1f} points worse than interleaved{without}.")


TRACE_K = 100  # the phase length whose first day and night the text follows


def _best_long(findings_: Mapping[str, Any]) -> Setting:
    """The best run with phases of at least :data:`LONG_K` updates, as a :class:`Setting`."""
    goodness, lr, smoothing = findings_["best_long_setting"]
    return Setting("phases", findings_["best_long_k"], lr, smoothing, goodness.replace(" ", "_"))


def _shape(results: Runs) -> tuple[int, int]:
    """(depth, width) of a study's net, from its first run."""
    hidden = next(iter(results.values()))[0]["config"]["model"]["hidden"]
    return len(hidden), hidden[0]


def facts(results: Runs, results_u: Runs, paper_u: Runs, profile: str, seeds: Sequence[int]) -> dict[str, Any]:
    """Every number and verdict the sleep chapter states, keyed by its glue name.

    ``results`` and ``results_u``: the supervised and the unsupervised study at the page's profile
    (:func:`load`); ``paper_u``: the unsupervised study's runs at the paper's scale, possibly none
    (for the answer's sentence on that scale, unless the page is the paper profile).

    Keys: the page's ``profile`` and ``seeds``; the runs and nets (``n-runs``, ``depth``, ``width``,
    their ``-u`` twins, ``epochs``, ``batches`` an epoch); at ffcode's settings the errors of
    interleaved learning and of phases of 1, 10 and the longest ``k-max`` updates (``default-*``);
    the thresholds of the text (``at-chance``, ``long-k``); how many long-phase runs never learned
    (``dead`` of ``phased``; ``dead-alone`` of them with an interleaved twin that learned) and fell silent
    (``silent``); every run with phases of ten or more updates against its interleaved twin (:func:`twins`:
    ``twin-worse``, ``twin-equal``, ``twin-better`` of ``twin-n``; at the lowest learning rate
    ``twin-lowest-ok`` as well or better of ``twin-lowest-n``); the best long-phase run (``best-long*``),
    the best interleaved one and their ``cost``; each goodness's best long-phase run and learning
    without nights (``no-sleep-*``); the first day and night of phases of :data:`TRACE_K` updates
    (``start-pos``, ``day-*``, ``night-*``); the paper's recipe at ffcode's step (``recipe-*``,
    ``lowest-lr*``); the same for unsupervised FF (``u-*``); and the verdict sentences
    (``short-verdict``, ``ten-verdict``, ``u-alike``, the ``*-versus`` comparisons and
    ``u-paper-scale``).
    """
    cfg = next(iter(results.values()))[0]["config"]
    n_test = cfg["data"]["eval_examples"] or 10_000
    out: dict[str, Any] = {"profile": profile, "seeds": ", ".join(map(str, seeds))}
    out["n-runs"], out["n-runs-u"] = len(results) * len(seeds), len(results_u) * len(seeds)
    (out["depth"], out["width"]), (out["depth-u"], out["width-u"]) = _shape(results), _shape(results_u)
    out["epochs"] = cfg["optim"]["epochs"]
    out["batches"] = -(-(cfg["data"]["train_examples"] or TRAIN_SIZE) // cfg["data"]["batch_size"])

    table = sweep_table(results)
    ks = phase_lengths(table)
    f = findings(table, DEFAULT)
    d = f["default"]
    out["default-interleaved"], out["default-k1"], out["default-k10"] = d["interleaved"], d["K = 1"], d["K = 10"]
    out["default-kmax"], out["k-max"] = d[f"K = {ks[-1]}"], ks[-1]
    out["k1-versus"] = versus(d["K = 1"], d["interleaved"], n_test)
    out["at-chance"], out["long-k"] = AT_CHANCE, LONG_K
    out["dead"], out["phased"] = f["dead"], f["phased"]
    out["best-long"], out["best-long-k"] = f["best_long"], f["best_long_k"]
    g, lr, s = f["best_long_setting"]
    out["best-long-setting"] = f"{g}, learning rate {lr:g}, smoothing {s:g}"
    out["best-long-interleaved"], out["best-interleaved"] = f["best_long_interleaved"], f["best_interleaved"]
    out["best-long-versus"] = versus(f["best_long"], f["best_long_interleaved"], n_test)
    for name, err in f["best_long_by_goodness"].items():
        out[f"best-long-{name.replace(' ', '-')}"] = err
    for goodness in ("max_ssq", "min_ssq"):
        out[f"no-sleep-{goodness}"] = mean_error(results[Setting("positive_only", goodness=goodness)], "test", "goodness")

    table_u = sweep_table(results_u, mode="last3")
    f_u = findings(table_u, DEFAULT)
    out["u-default-interleaved"], out["u-default-k1"] = f_u["default"]["interleaved"], f_u["default"]["K = 1"]
    out["u-k1-versus"] = versus(f_u["default"]["K = 1"], f_u["default"]["interleaved"], n_test)
    out["u-dead"], out["u-phased"] = f_u["dead"], f_u["phased"]
    out["u-best-long"], out["u-best-long-k"] = f_u["best_long"], f_u["best_long_k"]
    _, lr_u, s_u = f_u["best_long_setting"]
    out["u-best-long-setting"] = f"learning rate {lr_u:g}, smoothing {s_u:g}"
    out["u-best-long-interleaved"] = f_u["best_long_interleaved"]
    out["u-no-sleep"] = mean_error(results_u[Setting("positive_only")], "test", "last3")

    # The verdicts. The headline judges every long-phase run against its interleaved twin: phases work only when
    # short if most of those runs do worse than their twins and most of those worse runs never learn at all.
    t = twins(table, n_test)
    out["twin-n"], out["twin-worse"], out["twin-equal"], out["twin-better"] = t["n"], *t["counts"].values()
    out["twin-lowest-n"], out["twin-lowest-ok"] = t["lowest_n"], t["lowest_counts"]["as well as"] + t["lowest_counts"]["better than"]
    out["dead-alone"] = f["dead_alone"]
    dead_share, u_dead_share = f["dead"] / f["phased"], f_u["dead"] / f_u["phased"]
    worse = t["counts"]["worse than"]
    out["short-verdict"] = ("Yes: most runs with long phases learn as well as the same settings interleaved." if worse <= t["n"] / 2
                            else "Only when the phases are short." if f["dead_alone"] > worse / 2 else "Yes, at a cost that grows with the length of the phases.")
    out["ten-verdict"] = "From ten updates a phase on they fail there." if d["K = 10"] > AT_CHANCE else "Longer phases cost accuracy there."
    out["u-alike"] = "behaves alike" if (u_dead_share > 0.5) == (dead_share > 0.5) else "fares differently"
    out["silent"] = sum(v.schedule == "phases" and v.k >= 10 for v in silent_runs(results))

    first_day = results[Setting("phases", TRACE_K)][0]["history"][0]["phase_trace"]
    out["trace-k"] = TRACE_K
    out["start-pos"] = first_day["positive"][0][0]
    out["day-pos"], out["day-neg"] = first_day["positive"][1][0], first_day["negative"][1][0]
    out["night-pos"], out["night-neg"] = first_day["positive"][2][0], first_day["negative"][2][0]
    out["cost"] = f["best_long"] - f["best_interleaved"]

    at_step = table.loc[DEFAULT[:2]]  # ffcode's goodness and learning rate, smoothing rising: the recipe with the step held
    out["recipe-k10"] = ", ".join(f"{sm:g}: {row['K = 10']:.2f} %" for sm, row in at_step.iterrows())
    lowest_lr = min(table.index.get_level_values(1))
    out["lowest-lr"] = f"{lowest_lr:g}"
    out["lowest-lr-interleaved"] = float(table.xs(lowest_lr, level=1)["interleaved"].min())
    out["recipe-long"] = float(at_step[[f"K = {k}" for k in ks if k >= LONG_K]].min().min())
    by_g = f["best_long_by_goodness"]
    out["goodness-versus"] = versus(by_g["min ssq"], by_g["max ssq"], n_test)
    out["u-paper-scale"] = scale_answer(paper_u, "last3") if profile != "paper" else "(This page is the paper profile.)"
    return out


def figures(results: Runs, results_u: Runs) -> dict[str, Figure]:
    """The chapter's figures by glue name: the sweeps against K (``fig-sweep``, ``fig-sweep-u``), the
    first day and night of phases of 10 and :data:`TRACE_K` updates and of the best long-phase run
    (``fig-trace``), and learning with and without nights (``fig-no-sleep``), all at ffcode's settings."""
    best = _best_long(findings(sweep_table(results), DEFAULT))
    traced = {v.name: results[v][0] for v in (Setting("phases", 10), Setting("phases", TRACE_K), best)}
    return {
        "fig-sweep": error_vs_phase_length(results),
        "fig-trace": phase_trace_figure(traced),
        "fig-no-sleep": no_sleep_figure({v.name: results[v] for v in (Setting("interleaved"), Setting("positive_only"))}),
        "fig-sweep-u": error_vs_phase_length(results_u, mode="last3"),
    }


def scale_sections(paper_runs: Mapping[str, Runs], here: Mapping[str, Runs], profile: str) -> list[tuple[str, pd.DataFrame]]:
    """What the page shows on the paper's scale, per study (entry -> runs, the unsupervised study
    first as on the page): a sentence and the table of the variants that have paper-scale runs (empty
    where none has); one sentence alone where the page is itself the paper profile."""
    if profile == "paper":
        return [("This page is the paper profile: the tables above are the paper's scale.", pd.DataFrame())]
    mode = {entry: get_experiment(entry).metric.split(".")[1] for entry in here}  # goodness, or last3 for unsupervised FF
    return [(scale_sentence(paper_runs[entry], entry), scale_comparison(paper_runs[entry], runs, mode[entry])) for entry, runs in here.items()]


GAN_ENTRIES = ("mnist-ff-supervised", "mnist-ff-hard-negatives")  # random wrong labels, the net's own


def paper_pair() -> tuple[list[Result], list[Result]]:
    """The complete paper-profile runs on disk of :data:`GAN_ENTRIES` (possibly none)."""
    uniform, hard = ([r for r in load_results(e, "paper") if r.get("complete")] for e in GAN_ENTRIES)
    return uniform, hard


def paper_pair_sentence(uniform: Sequence[Result], hard: Sequence[Result]) -> str:
    """How hard negatives compare with random wrong labels at the paper's scale, from the runs of
    :func:`paper_pair`, or that there are none of one of them yet."""
    if not uniform or not hard:
        return "The paper-profile runs of both entries are not on disk yet."
    u, h = mean_error(uniform, "test", "goodness"), mean_error(hard, "test", "goodness")
    n_test = uniform[0]["config"]["data"]["eval_examples"] or 10_000
    return (f"At the paper's scale the two answer it better: {u:.2f} % with random wrong labels ({len(uniform)} seed{'s' * (len(uniform) > 1)}, "
            f"{uniform[0]['config']['optim']['epochs']} epochs) against {h:.2f} % with the net's own negatives ({len(hard)} "
            f"seed{'s' * (len(hard) > 1)}, {hard[0]['config']['optim']['epochs']} epochs): the net's own negatives do "
            f"{versus(h, u, n_test)} random ones.")


COLLAPSED = 0.9  # a true class's negatives have collapsed in an epoch when one wrong label takes this share of them


def negative_variety(result: Result) -> pd.DataFrame:
    """How varied a hard-negative run's own negatives stay, epoch by epoch, from the counts its history keeps
    (``negative_labels``: true label x drawn label): over the true labels, the mean and the lowest entropy
    of the drawn labels' distribution (bits; 9 wrong labels drawn evenly: log2 9 = 3.17), the fewest wrong
    labels that take 90 % of one true label's negatives, and the largest share one wrong label takes."""
    rows = {}
    for h in result["history"]:
        counts = np.asarray(h["negative_labels"], dtype=float)
        shares = counts / counts.sum(1, keepdims=True).clip(min=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = -np.nansum(np.where(shares > 0, shares * np.log2(shares), 0.0), axis=1)
        ranked = -np.sort(-shares, axis=1).cumsum(1)
        rows[h["epoch"]] = {"mean entropy (bits)": float(entropy.mean()), "lowest entropy (bits)": float(entropy.min()),
                            "fewest labels for 90 %": int((ranked < 0.9 - 1e-9).sum(1).min() + 1), "largest share": float(shares.max())}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "epoch"
    return out


def variety_sentence(variety: pd.DataFrame) -> str:
    """The GAN page's measurement in words: whether the net's own negatives ever collapsed (one wrong label
    taking :data:`COLLAPSED` of a true label's negatives in an epoch), from :func:`negative_variety`."""
    first, last = variety.iloc[0], variety.iloc[-1]
    worst = variety["largest share"].max()
    head = (f"Over the true labels, the entropy of the net's own negatives goes from {first['mean entropy (bits)']:.2f} bits in the first epoch "
            f"to {last['mean entropy (bits)']:.2f} in the last (evenly over the nine wrong labels: 3.17); the lowest of any true label in any "
            f"epoch is {variety['lowest entropy (bits)'].min():.2f} bits, and at least {int(variety['fewest labels for 90 %'].min())} wrong "
            f"labels always take 90 % of a true label's negatives.")
    if worst >= COLLAPSED:
        return f"{head} In some epoch one wrong label took {worst:.0%} of a true label's negatives: they collapsed there."
    return f"{head} No wrong label ever took more than {worst:.0%} of a true label's negatives: they never collapsed onto one class."


def gan_facts(uniform: Sequence[Result], hard: Sequence[Result], results: Runs, profile: str,
              paper: tuple[Sequence[Result], Sequence[Result]] = ((), ())) -> dict[str, Any]:
    """The numbers and the reading the page on FF and GANs takes from the supervised entries
    (``uniform``, ``hard``: their runs) and from the sleep study (``results``, :func:`load`): both
    entries' test errors and epochs and how hard negatives compare (``hard-versus``), and at the paper's scale
    from ``paper``'s runs (:func:`paper_pair`: ``paper-sentence``); how varied the first hard-negative run's own
    negatives stayed (:func:`variety_sentence`: ``variety``); at ffcode's
    settings the error of interleaved learning, of phases of 1 and 10 updates and without nights;
    how many long-phase runs never learned (``dead`` of ``phased``; ``dead-alone`` of them where the same settings
    learn interleaved; ``twin-worse`` of them worse than their interleaved twins, :func:`twins`) and the
    ``reading`` those comparisons give."""
    n_test = uniform[0]["config"]["data"]["eval_examples"] or 10_000
    uniform_error, hard_error = mean_error(uniform, "test", "goodness"), mean_error(hard, "test", "goodness")
    table = sweep_table(results)
    f, t = findings(table, DEFAULT), twins(table, n_test)
    if t["counts"]["worse than"] > t["n"] / 2:  # most long-phase runs worse than the same settings interleaved
        reading = ("FF shares with a GAN the need for the two kinds of updates to stay close in time: a long day or night "
                   "drives the goodness of everything up or down together, much as a discriminator trained too long "
                   "against a fixed generator stops being informative.")
    else:
        reading = "Unlike the two nets of a GAN, the two kinds of FF updates can be kept apart for long stretches at these settings."
    return {
        "profile": profile,
        "uniform-error": uniform_error,
        "hard-error": hard_error,
        "uniform-epochs": uniform[0]["config"]["optim"]["epochs"],
        "hard-epochs": hard[0]["config"]["optim"]["epochs"],
        "hard-versus": versus(hard_error, uniform_error, n_test),
        "paper-sentence": paper_pair_sentence(*paper),
        "variety": variety_sentence(negative_variety(hard[0])) if "negative_labels" in hard[0]["history"][0] else
        (f"This profile's run of {GAN_ENTRIES[1]} predates the count of its negatives; `python -m ffrepro run {GAN_ENTRIES[1]} "
         f"--profile {profile} --seed {hard[0]['seed']} --fresh` makes it."),
        "interleaved": f["default"]["interleaved"],
        "k1": f["default"]["K = 1"],
        "k10": f["default"]["K = 10"],
        "dead": f["dead"],
        "dead-alone": f["dead_alone"],
        "phased": f["phased"],
        "twin-worse": t["counts"]["worse than"],
        "no-sleep": mean_error(results[Setting("positive_only")], "test", "goodness"),
        "reading": reading,
    }
