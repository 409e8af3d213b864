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

NAMES = {"ff-joint": "FF, joint step (ffcode)", "ff-streaming": "FF, streaming step", "ff-layerwise": "FF, layer-by-layer step", "bp": "backprop"}
SHORT = {"ff-joint": "joint step", "ff-streaming": "streaming step", "ff-layerwise": "layer-by-layer step"}  # in sentences
MIB = 2**20


def peak_key(study: Mapping[str, Any]) -> str:
    """The measured peak of the study's device: the GPU allocator's or the CPU process's."""
    return "gpu_peak_bytes" if "gpu_peak_bytes" in study["rows"][0] else "process_peak_bytes"


def batches(study: Mapping[str, Any]) -> list[int]:
    """The batch sizes measured, the main one (issue 11's) first."""
    return list(study["spec"]["batches"])


def table(study: Mapping[str, Any], batch: int) -> pd.DataFrame:
    """One row per depth at ``batch``; per method the saved bytes and the measured peak (MiB) and ms per update."""
    key = peak_key(study)
    rows: dict[int, dict[tuple[str, str], float]] = {}
    for r in study["rows"]:
        if r["batch"] != batch:
            continue
        row = rows.setdefault(r["depth"], {})
        row[(NAMES[r["method"]], "saved (MiB)")] = round(r["saved_bytes"] / MIB, 1)
        row[(NAMES[r["method"]], "peak (MiB)")] = round(r[key] / MIB, 1)
        row[(NAMES[r["method"]], "ms per update")] = round(1000 * r["seconds_per_update"], 1)
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    out.index.name = "depth"
    return out


def series(study: Mapping[str, Any], key: str, batch: int | None = None) -> dict[str, tuple[list[int], list[float]]]:
    """method -> (depths, values of ``key``) at ``batch`` (default: the main one), in the order of the depths."""
    batch = batches(study)[0] if batch is None else batch
    out: dict[str, tuple[list[int], list[float]]] = {}
    for m in METHODS:
        rows = sorted((r for r in study["rows"] if r["method"] == m and r["batch"] == batch), key=lambda r: r["depth"])
        out[m] = ([r["depth"] for r in rows], [float(r[key]) for r in rows])
    return out


def crossing(study: Mapping[str, Any], a: str, b: str, key: str = "saved_bytes", batch: int | None = None) -> int | None:
    """The smallest depth from which method ``a`` needs less of ``key`` than ``b`` at every larger
    depth measured; None if it never does."""
    both = series(study, key, batch)
    (da, va), (_, vb) = both[a], both[b]
    for i, depth in enumerate(da):
        if all(x < y for x, y in zip(va[i:], vb[i:])):
            return depth
    return None


def memory_figure(study: Mapping[str, Any], batch: int | None = None) -> Figure:
    """Saved-for-backward memory, measured peak and time per update against depth (log-log), at ``batch``
    (default: the main one)."""
    key = peak_key(study)
    fig = Figure(figsize=(11, 3.4), layout="constrained")
    axes = fig.subplots(1, 3)
    panels = [("saved_bytes", MIB, "saved for backward (MiB)"), (key, MIB, f"{'GPU allocator' if key.startswith('gpu') else 'process'} peak (MiB)"),
              ("seconds_per_update", 1e-3, "ms per update")]
    for ax, (k, scale, label) in zip(axes, panels):
        for i, (m, (depths, values)) in enumerate(series(study, k, batch).items()):
            ax.plot(depths, [max(v / scale, 1e-3) for v in values], "-o", ms=3, color=f"C{i}", label=NAMES[m])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("hidden layers")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="x-small")
    return fig


# The verdict's thresholds: "does not grow" is within a quarter from the second depth to the deepest
# (a first layer fed by the image saves less than one fed by another layer); "grows" is more than twice.
FLAT, GROWS = 1.25, 2.0
FF_WAYS = tuple(m for m in METHODS if m != "bp")
QUANTITIES = {"saved_bytes": "the activations kept for the chain rule", "peak": "everything an update holds (its measured peak, gradients included)"}


def _from(depth: int | None) -> str:
    return "never, at the depths measured" if depth is None else f"from {depth} hidden layer{'s' if depth > 1 else ''} on"


def claim(study: Mapping[str, Any], quantity: str, batch: int | None = None) -> dict[str, Any]:
    """The blog's claim (FF's training memory does not grow with depth) tested on one quantity ("saved_bytes"
    or "peak") at ``batch``: each method's growth from the second depth to the deepest (``growth``), each FF
    way's value over backprop's at the deepest (``vs_bp``), the FF ways that stay flat (growth below
    :data:`FLAT`: ``flat``) and the two depths compared (``depths``)."""
    s = series(study, peak_key(study) if quantity == "peak" else quantity, batch)
    growth = {m: values[-1] / values[1] for m, (_, values) in s.items()}
    return {"growth": growth, "vs_bp": {m: s[m][1][-1] / s["bp"][1][-1] for m in FF_WAYS},
            "flat": [m for m in FF_WAYS if growth[m] < FLAT], "depths": (s["bp"][0][1], s["bp"][0][-1])}


def claim_sentence(c: Mapping[str, Any], quantity: str) -> str:
    """What :func:`claim` found, as the page says it: for which FF ways the claim holds on ``quantity``
    (a key of :data:`QUANTITIES`), how much each grows and where it stands against backprop."""
    (a, b), growth, vs_bp = c["depths"], c["growth"], c["vs_bp"]
    head = f"Counting {QUANTITIES[quantity]}, from {a} to {b} hidden layers backprop's grows {growth['bp']:.1f} times"
    if not c["flat"]:
        least = min(FF_WAYS, key=lambda m: growth[m])
        return f"{head}, and so does every FF step's (the least, the {SHORT[least]}'s, {growth[least]:.2f} times): the claim does not hold."
    ways = " and the ".join(SHORT[m] for m in c["flat"])
    best = min(c["flat"], key=lambda m: vs_bp[m])
    rest = [m for m in FF_WAYS if m not in c["flat"]]
    grows = "; " + ", ".join(f"the {SHORT[m]}'s grows {growth[m]:.1f} times" for m in rest) if rest else ""
    return (f"{head}; FF's stays flat for the {ways} (within {FLAT:.2f} times; at {b} layers the "
            f"{SHORT[best]} needs {vs_bp[best]:.2f} times backprop's){grows}: the claim holds for "
            f"{'that way' if len(c['flat']) == 1 else 'those ways'} of stepping.")


def verdict(study: Mapping[str, Any], batch: int | None = None) -> str:
    """The page's conclusion at ``batch``: the claim judged on each quantity (:func:`claim_sentence`)."""
    return " ".join(claim_sentence(claim(study, q, batch), q) for q in QUANTITIES)


def verdict_markdown(study: Mapping[str, Any]) -> str:
    """The verdict as the page lists it: one item a batch size and quantity (:func:`claim_sentence`)."""
    return "\n".join(f"- **{batch:,} images.** {claim_sentence(claim(study, q, batch), q)}" for batch in batches(study) for q in QUANTITIES)


def facts(study: Mapping[str, Any], profile: str) -> dict[str, Any]:
    """Every number and verdict the memory page states, keyed by its glue name: the study's sizes
    (``width``, ``batch`` the main batch size and ``batch-small`` the other, ``depth-min``, ``depth-max``),
    where and how long it ran (``device``, ``wall`` in minutes) and what its peak measures (``peak-kind``);
    at the main batch size, how the saved memory grows from the shallowest to the deepest net
    (``bp-growth``, ``joint-growth``; ``streaming-growth`` from the second depth, ``depth-second``), FF's
    saved memory over backprop's at both ends, the peaks at the deepest net in MiB and the layer-by-layer
    step's peak growth from the second depth, the streaming and layer-by-layer steps' time over the joint
    step's, and from which depth FF needs less than backprop (``cross``, ``cross-peak``, ``cross-joint``,
    ``cross-peak-layerwise``); the verdict at each batch size (``verdict``, ``verdict-small``) and its threshold (``flat``)."""
    spec, prov = study["spec"], study["provenance"]
    key = peak_key(study)
    main, *others = batches(study)
    saved, peak, time = series(study, "saved_bytes"), series(study, key), series(study, "seconds_per_update")
    first, last = 0, -1

    def ratio(of: Mapping[str, tuple[list[int], list[float]]], a: str, i: int, b: str, j: int) -> float:
        return of[a][1][i] / of[b][1][j]

    small = others[0] if others else main
    return {
        "profile": profile,
        "width": spec["width"],
        "batch": main,
        "batch-small": small,
        "depth-min": min(spec["depths"]),
        "depth-max": max(spec["depths"]),
        "device": f"{prov['device']} ({prov['threads']} threads)" if prov["device"].startswith("cpu") and "thread" not in prov["device"] else prov["device"],
        "wall": study["wall_time_s"] / 60,
        "peak-kind": "the peak of the GPU allocator" if key.startswith("gpu") else "the resident memory of the process, sampled every millisecond",
        "bp-growth": ratio(saved, "bp", last, "bp", first),
        "joint-growth": ratio(saved, "ff-joint", last, "ff-joint", first),
        "streaming-growth": ratio(saved, "ff-streaming", last, "ff-streaming", 1),
        "depth-second": saved["ff-streaming"][0][1],
        "shallow-ratio": ratio(saved, "ff-joint", first, "bp", first),
        "deep-ratio-streaming": ratio(saved, "ff-streaming", last, "bp", last),
        "deep-ratio-joint": ratio(saved, "ff-joint", last, "bp", last),
        "peak-deep-streaming": peak["ff-streaming"][1][last] / MIB,
        "peak-deep-joint": peak["ff-joint"][1][last] / MIB,
        "peak-deep-layerwise": peak["ff-layerwise"][1][last] / MIB,
        "peak-deep-bp": peak["bp"][1][last] / MIB,
        "peak-growth-layerwise": ratio(peak, "ff-layerwise", last, "ff-layerwise", 1),
        "peak-ratio-layerwise": ratio(peak, "ff-layerwise", last, "bp", last),
        "time-ratio": ratio(time, "ff-streaming", last, "ff-joint", last),
        "time-ratio-layerwise": ratio(time, "ff-layerwise", last, "ff-joint", last),
        "cross": _from(crossing(study, "ff-streaming", "bp")),
        "cross-peak": _from(crossing(study, "ff-streaming", "bp", key)),
        "cross-peak-layerwise": _from(crossing(study, "ff-layerwise", "bp", key)),
        "cross-joint": _from(crossing(study, "ff-joint", "bp")),
        "flat": FLAT,
        "verdict": verdict(study, main),
        "verdict-small": verdict(study, small),
    }
