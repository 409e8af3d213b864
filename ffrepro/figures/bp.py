"""The backprop baseline's chapter (paper section 3.1): every number its text states (:func:`facts`)
and its learning curves (:func:`figures`), so that the notebook only glues them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

from ffrepro.book import Page
from ffrepro.figures.common import Result, learning_curves, mean_error, summary_row
from ffrepro.registry import get_experiment


PAGES = (  # this module's pages of the book (ffrepro.book)
    Page('mnist-bp', 'reproduces the backprop baseline (section 3.1).', 130),
)


def facts(results: Mapping[str, Sequence[Result]], profile: str, seeds: Sequence[int]) -> dict[str, Any]:
    """Keyed by glue name (``results``: entry -> runs at ``profile``): ``profile``, ``seeds``, and per
    entry ``ID-paper``, ``ID-epochs`` (ours) and ``ID-paper-epochs``, ``ID-status``, ``ID-hidden``
    ("500x500"), ``ID-train-bp`` and ``ID-test-bp`` (mean over the seeds)."""
    out: dict[str, Any] = {"profile": profile, "seeds": ", ".join(map(str, seeds))}
    for e, rs in results.items():
        exp = get_experiment(e)
        out[f"{e}-paper"] = exp.paper_value
        out[f"{e}-epochs"] = rs[0]["config"]["optim"]["epochs"]
        out[f"{e}-paper-epochs"] = exp.paper_config.optim.epochs
        out[f"{e}-status"] = summary_row(e, profile)["status"]
        out[f"{e}-hidden"] = "x".join(map(str, rs[0]["config"]["model"]["hidden"]))
        for split in ("train", "test"):
            out[f"{e}-{split}-bp"] = mean_error(rs, split, "bp")
    return out


def figures(results: Mapping[str, Sequence[Result]]) -> dict[str, Figure]:
    """Each entry's learning curves, ``fig-curves-ID``."""
    return {f"fig-curves-{e}": learning_curves(rs) for e, rs in results.items()}
