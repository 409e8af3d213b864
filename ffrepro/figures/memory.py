"""Figures and tables of the memory page (issue 11): training memory and time against depth, read
from a study of :mod:`ffrepro.memory`; :func:`facts` gives every number and the verdict the page
states, so that the notebook only glues them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ffrepro.book import Page
from ffrepro.memory import METHODS


PAGES = (  # this module's pages of the book (ffrepro.book)
    Page('memory-depth', "measures the training memory of FF and backprop against depth, with FF's update as its reference code makes it and layer by layer.", 100),
)

NAMES = {"ff-joint": "FF, joint step (ffcode)", "ff-streaming": "FF, streaming step", "bp": "backprop"}
MIB = 2**20


def peak_key(study: Mapping[str, Any]) -> str:
    """The measured peak of the study's device: the GPU allocator's or the CPU process's."""
    return "gpu_peak_bytes" if "gpu_peak_bytes" in study["rows"][0] else "process_peak_bytes"


def table(study: Mapping[str, Any]) -> pd.DataFrame:
    """One row per depth; per method the saved bytes and the measured peak (MiB) and ms per update."""
    key = peak_key(study)
    rows: dict[int, dict[tuple[str, str], float]] = {}
    for r in study["rows"]:
        row = rows.setdefault(r["depth"], {})
        row[(NAMES[r["method"]], "saved (MiB)")] = round(r["saved_bytes"] / MIB, 1)
        row[(NAMES[r["method"]], "peak (MiB)")] = round(r[key] / MIB, 1)
        row[(NAMES[r["method"]], "ms per update")] = round(1000 * r["seconds_per_update"], 1)
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    out.index.name = "depth"
    return out


def series(study: Mapping[str, Any], key: str) -> dict[str, tuple[list[int], list[float]]]:
    """method -> (depths, values of ``key``) in the order of the depths."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    for m in METHODS:
        rows = sorted((r for r in study["rows"] if r["method"] == m), key=lambda r: r["depth"])
        out[m] = ([r["depth"] for r in rows], [float(r[key]) for r in rows])
    return out


def crossing(study: Mapping[str, Any], a: str, b: str, key: str = "saved_bytes") -> int | None:
    """The smallest depth from which method ``a`` needs less of ``key`` than ``b`` at every larger
    depth measured; None if it never does."""
    both = series(study, key)
    (da, va), (_, vb) = both[a], both[b]
    for i, depth in enumerate(da):
        if all(x < y for x, y in zip(va[i:], vb[i:])):
            return depth
    return None


def memory_figure(study: Mapping[str, Any]) -> Figure:
    """Saved-for-backward memory, measured peak and time per update against depth (log-log)."""
    key = peak_key(study)
    fig = Figure(figsize=(11, 3.4), layout="constrained")
    axes = fig.subplots(1, 3)
    panels = [("saved_bytes", MIB, "saved for backward (MiB)"), (key, MIB, f"{'GPU allocator' if key.startswith('gpu') else 'process'} peak (MiB)"),
              ("seconds_per_update", 1e-3, "ms per update")]
    for ax, (k, scale, label) in zip(axes, panels):
        for i, (m, (depths, values)) in enumerate(series(study, k).items()):
            ax.plot(depths, [max(v / scale, 1e-3) for v in values], "-o", ms=3, color=f"C{i}", label=NAMES[m])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("hidden layers")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="x-small")
    return fig


# The verdict's thresholds: "does not grow" is within a quarter from the second depth to the deepest
# (the streaming step's first depth has no layer below the first to free); "grows" is more than twice.
FLAT, GROWS = 1.25, 2.0


def _from(depth: int | None) -> str:
    return "never, at the depths measured" if depth is None else f"from {depth} hidden layer{'s' if depth > 1 else ''} on"


def verdict(streaming_growth: float, joint_growth: float, cross_peak: int | None, peak_ratio: float) -> str:
    """The page's conclusion on the blog's claim that FF's memory does not grow with depth: it holds
    for the streaming step when that step's saved memory stays flat (growth below :data:`FLAT`) while
    the joint step's grows (above :data:`GROWS`); counting the whole peak as well, it holds only if the
    streaming step's peak falls below backprop's at some depth (``cross_peak``); ``peak_ratio`` is the
    streaming step's peak over backprop's at the deepest net."""
    if streaming_growth < FLAT and joint_growth > GROWS and cross_peak is None:
        return ("So, counting the activations kept for the chain rule, the claim of the blog holds for FF written as a stream "
                "of layers, and not for FF as its reference code writes it, whose single backward keeps the activations of "
                "every layer as backprop does. Counting everything an update holds, it does not hold at these sizes: "
                "the gradients, as large as the weights, grow with depth for every method, and the peak of the "
                f"streaming step stays at {peak_ratio:.2f} times that of backprop at the deepest net.")
    if streaming_growth < FLAT and joint_growth > GROWS:
        return ("So the claim of the blog holds for FF written as a stream of layers, and not for FF as its reference "
                "code writes it, whose single backward keeps the activations of every layer as backprop does.")
    return "So at these sizes the claim does not hold as stated: the memory of the streaming step grows with depth too."


def facts(study: Mapping[str, Any], profile: str) -> dict[str, Any]:
    """Every number and verdict the memory page states, keyed by its glue name: the study's sizes
    (``width``, ``batch``, ``depth-min``, ``depth-max``), where and how long it ran (``device``,
    ``wall`` in minutes) and what its peak measures (``peak-kind``); how the saved memory grows from
    the shallowest to the deepest net (``bp-growth``, ``joint-growth``; ``streaming-growth`` from the
    second depth, ``depth-second``); FF's saved memory over backprop's at both ends and the peaks at
    the deepest net in MiB; the streaming step's time over the joint step's; from which depth FF
    needs less than backprop (``cross``, ``cross-peak``, ``cross-joint``); and the ``verdict``."""
    spec, prov = study["spec"], study["provenance"]
    key = peak_key(study)
    saved, peak, time = series(study, "saved_bytes"), series(study, key), series(study, "seconds_per_update")
    first, last = 0, -1

    def ratio(of: Mapping[str, tuple[list[int], list[float]]], a: str, i: int, b: str, j: int) -> float:
        return of[a][1][i] / of[b][1][j]

    cross_peak = crossing(study, "ff-streaming", "bp", key)
    streaming_growth, joint_growth = ratio(saved, "ff-streaming", last, "ff-streaming", 1), ratio(saved, "ff-joint", last, "ff-joint", first)
    return {
        "profile": profile,
        "width": spec["width"],
        "batch": spec["batch"],
        "depth-min": min(spec["depths"]),
        "depth-max": max(spec["depths"]),
        "device": f"{prov['device']} ({prov['threads']} threads)" if prov["device"].startswith("cpu") else prov["device"],
        "wall": study["wall_time_s"] / 60,
        "peak-kind": "the peak of the GPU allocator" if key.startswith("gpu") else "the resident memory of the process, sampled every millisecond",
        "bp-growth": ratio(saved, "bp", last, "bp", first),
        "joint-growth": joint_growth,
        "streaming-growth": streaming_growth,
        "depth-second": saved["ff-streaming"][0][1],
        "shallow-ratio": ratio(saved, "ff-joint", first, "bp", first),
        "deep-ratio-streaming": ratio(saved, "ff-streaming", last, "bp", last),
        "deep-ratio-joint": ratio(saved, "ff-joint", last, "bp", last),
        "peak-deep-streaming": peak["ff-streaming"][1][last] / MIB,
        "peak-deep-joint": peak["ff-joint"][1][last] / MIB,
        "peak-deep-bp": peak["bp"][1][last] / MIB,
        "time-ratio": ratio(time, "ff-streaming", last, "ff-joint", last),
        "cross": _from(crossing(study, "ff-streaming", "bp")),
        "cross-peak": _from(cross_peak),
        "cross-joint": _from(crossing(study, "ff-joint", "bp")),
        "verdict": verdict(streaming_growth, joint_growth, cross_peak, ratio(peak, "ff-streaming", last, "bp", last)),
    }
