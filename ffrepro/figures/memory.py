"""Figures and tables of the memory page (issue 11): training memory and time against depth, read
from a study of :mod:`ffrepro.memory`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ffrepro.memory import METHODS

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
