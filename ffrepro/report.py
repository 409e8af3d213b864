"""Tables computed from results files: the tolerance check and the paper-vs-reproduced table."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffrepro.config import PROFILES
from ffrepro.experiments.base import MNIST_TOLERANCE, KnownGap
from ffrepro.registry import EXPERIMENTS, Experiment
from ffrepro.results import load_results


def metric_value(result: dict[str, Any], metric: str) -> float:
    split, mode = metric.split(".")
    return result["final"][split][mode]


# What a partial result (a run that stopped before its last epoch) is held to, where its entry's
# cpu profile has no tolerance of its own (entries the paper gives no number for): the MNIST cpu
# tolerance, in points.
PARTIAL_MARGIN = MNIST_TOLERANCE["cpu"]


@dataclass(frozen=True)
class Check:
    """One (experiment, profile, metric) against the paper. The statuses, with no way around them:

    * complete: PASS within ``tolerance`` of the paper's number; GAP beyond it but within the bound of
      the registry's :class:`~ffrepro.experiments.base.KnownGap`; FAIL otherwise; "n/a" where the
      paper gives no number or the profile has no tolerance (those are shown, not compared).
    * partial: PARTIAL while the seeds' mean is no worse than ``partial_limit``: the entry's complete
      cpu-profile result plus the cpu tolerance (a paper-scale net part way through its schedule should
      already do what the smaller, shorter cpu net does when finished); GAP beyond that within a known
      gap's bound; FAIL otherwise, and FAIL where there is no complete cpu result to hold it to.
    """

    experiment: str
    profile: str
    paper: float | None  # None: the paper gives no number for this entry
    values: tuple[float, ...]  # one per seed
    tolerance: float | None  # None: the profile is not compared with the paper (smoke)
    complete: bool  # every seed finished all its epochs
    gap: KnownGap | None = None  # the registry's explanation and bound of a known gap to the paper
    metric: str = ""  # which of the entry's metrics: its main one, or one of its ``also`` metrics
    partial_limit: float | None = None  # the worst mean a partial result may have (None: nothing to hold it to)

    @property
    def name(self) -> str:
        """The entry's id, with the metric where it is not the main one (``cifar10-ff-...:test.softmax``)."""
        return f"{self.experiment}:{self.metric}" if self.metric and self.metric != EXPERIMENTS[self.experiment].metric else self.experiment

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def gap_note(self) -> str:
        return self.gap.note if self.gap else ""

    def _within_gap(self) -> bool:
        return self.gap is not None and self.paper is not None and abs(self.mean - self.paper) <= self.gap.bound

    @property
    def status(self) -> str:
        if not all(math.isfinite(v) for v in self.values):
            return "FAIL"
        if not self.complete:
            if self.partial_limit is not None and self.mean <= self.partial_limit:
                return "PARTIAL"
            return "GAP" if self._within_gap() else "FAIL"
        if self.tolerance is None or self.paper is None:
            return "n/a"
        if abs(self.mean - self.paper) <= self.tolerance:
            return "PASS"
        return "GAP" if self._within_gap() else "FAIL"

    @property
    def why(self) -> str:
        """One line on what the status compared (for ``check`` and the tests' messages)."""
        if not self.complete:
            limit = "no complete cpu result to hold it to" if self.partial_limit is None else f"partial limit {self.partial_limit:.2f}"
            return f"{self.mean:.2f} % unfinished; {limit}" + (f"; known gap bound {self.gap.bound}" if self.gap else "")
        if self.tolerance is None or self.paper is None:
            return "not compared"
        return f"{self.mean:.2f} % vs paper {self.paper} ± {self.tolerance}" + (f" (known gap bound {self.gap.bound})" if self.gap else "")


def mean_std_text(values: Sequence[float]) -> str:
    """The seeds' mean ± sample standard deviation and how many seeds, to two decimals:
    "1.43 ± 0.05 (3 seeds)"; one seed has no spread: "1.61 (1 seed)"."""
    if len(values) == 1:
        return f"{values[0]:.2f} (1 seed)"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f} ({len(values)} seeds)"


def check_one(exp: Experiment, profile: str, root: Path | None = None) -> Check | None:
    return check_results(exp, profile, load_results(exp.id, profile, root), root=root)


def check_results(
    exp: Experiment, profile: str, results: list[dict[str, Any]], metric: str | None = None, root: Path | None = None
) -> Check | None:
    """The tolerance check of already loaded results of one (experiment, profile) on its main metric or
    on one of its ``also`` metrics; None without any. ``root``: where the entry's cpu results are read
    from when these results are partial (default: the results root)."""
    if not results:
        return None
    metric = metric or exp.metric
    complete = all(r["complete"] for r in results)
    return Check(
        experiment=exp.id,
        profile=profile,
        paper=exp.paper_value if metric == exp.metric else exp.also[metric],
        values=tuple(metric_value(r, metric) for r in results),
        tolerance=exp.tolerance.get(profile),
        complete=complete,
        gap=exp.known_gaps.get(profile) if metric == exp.metric else None,
        metric=metric,
        partial_limit=None if complete else partial_limit(exp, profile, metric, root),
    )


def partial_limit(exp: Experiment, profile: str, metric: str, root: Path | None = None) -> float | None:
    """The worst mean a partial result of ``profile`` may have: the entry's complete cpu-profile mean
    on ``metric`` plus the cpu tolerance (:data:`PARTIAL_MARGIN` where it has none); None for a partial
    cpu result or where no complete cpu result exists (such a partial result fails)."""
    if profile == "cpu":
        return None
    cpu = load_results(exp.id, "cpu", root)
    if not cpu or not all(r["complete"] for r in cpu):
        return None
    return statistics.fmean(metric_value(r, metric) for r in cpu) + exp.tolerance.get("cpu", PARTIAL_MARGIN)


def check_all(profiles: tuple[str, ...] = ("cpu", "paper"), root: Path | None = None) -> list[Check]:
    """Compare every committed result with the paper's number (smoke is compared with its reference
    elsewhere): each entry's main metric, then the other metrics the paper reports for it (``also``)."""
    checks = []
    for exp in EXPERIMENTS.values():
        for p in profiles:
            results = load_results(exp.id, p, root)
            checks += [c for m in (exp.metric, *exp.also) if (c := check_results(exp, p, results, m, root)) is not None]
    return checks


def format_checks(checks: list[Check]) -> str:
    lines = [f"{'experiment':41} {'profile':7} {'seeds':>5} {'ours %':>7} {'paper %':>7} {'tol':>5}  status"]
    for c in checks:
        tol = "n/a" if c.tolerance is None else f"{c.tolerance:.2f}"
        paper = "n/a" if c.paper is None else f"{c.paper:.2f}"
        lines.append(f"{c.name:41} {c.profile:7} {len(c.values):5d} {c.mean:7.2f} {paper:>7} {tol:>5}  {c.status}")
    return "\n".join(lines)


FRONT_PAGE_PROFILES = ("paper", "cpu", "smoke")  # the order of preference, the paper's own setup first


def best_check(exp: Experiment, root: Path | None = None) -> Check | None:
    """The check of ``exp`` that the book's first page shows: its best available profile.

    The paper profile if every seed is complete, else cpu if complete, else paper then cpu with
    unfinished seeds (status PARTIAL), else smoke (status "smoke"): a smoke-only results folder still
    fills the table. None without any results.
    """

    def rank(c: Check) -> tuple[bool, bool, int]:  # smoke last whatever its state, then complete first
        return (c.profile == "smoke", not c.complete, FRONT_PAGE_PROFILES.index(c.profile))

    checks = [c for p in FRONT_PAGE_PROFILES if (c := check_one(exp, p, root)) is not None]
    return min(checks, key=rank, default=None)


def epochs_text(results: Sequence[dict[str, Any]]) -> str:
    """Epochs done of the planned number: "20/20" where every seed got as far, each seed's where they
    differ, in seed order: "15, 19, 24/500"."""
    done = [r["epochs_done"] for r in sorted(results, key=lambda r: r["seed"])]
    planned = results[0]["config"]["optim"]["epochs"]
    return f"{done[0] if len(set(done)) == 1 else ', '.join(map(str, done))}/{planned}"


def summary_row(exp: Experiment, profile: str, root: Path | None = None) -> dict[str, Any] | None:
    """Paper vs reproduced for one (experiment, profile), with provenance; None without results."""
    results = load_results(exp.id, profile, root)
    c = check_results(exp, profile, results, root=root)
    if c is None:
        return None
    first = results[0]
    return {
        "experiment": exp.id,
        "section": exp.section,
        "profile": profile,
        "seeds": ", ".join(str(r["seed"]) for r in results),
        "epochs": epochs_text(results),
        "hidden": "x".join(str(h) for h in first["config"]["model"]["hidden"]),
        "paper %": "n/a" if exp.paper_value is None else exp.paper_value,
        "ours %": round(c.mean, 2),
        "tolerance": "n/a" if c.tolerance is None else f"±{c.tolerance}",
        "status": c.status if profile != "smoke" else "smoke",
        "device": first["provenance"]["device"],
        "wall time (min)": round(sum(r["wall_time_s"]["train"] + r["wall_time_s"]["evaluate"] for r in results) / 60, 1),
    }


def summary_rows(exp_ids: list[str] | None = None, profiles: tuple[str, ...] = PROFILES, root: Path | None = None) -> list[dict[str, Any]]:
    """One :func:`summary_row` per (experiment, profile) with results."""
    return [row for exp in _selected(exp_ids) for p in profiles if (row := summary_row(exp, p, root)) is not None]


def _selected(exp_ids: list[str] | None) -> list[Experiment]:
    """The registry's experiments in its order, only ``exp_ids`` if given."""
    return [exp for exp in EXPERIMENTS.values() if exp_ids is None or exp.id in exp_ids]


def front_page_rows(exp_ids: list[str] | None = None, root: Path | None = None) -> list[dict[str, Any]]:
    """One :func:`summary_row` per experiment with results, at its :func:`best_check` profile, with
    "ours %" as :func:`mean_std_text` over the seeds."""
    rows = []
    for exp in _selected(exp_ids):
        c = best_check(exp, root)
        if c is not None:
            row = summary_row(exp, c.profile, root)
            assert row is not None
            rows.append({**row, "ours %": mean_std_text(c.values)})
    return rows


README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


def markdown_summary(root: Path | None = None) -> str:
    """The reproduced-vs-paper table shown in the README, from the committed results."""
    rows = summary_rows(profiles=("cpu", "paper"), root=root)
    cols = ["experiment", "profile", "seeds", "epochs", "hidden", "paper %", "ours %", "tolerance", "status", "device", "wall time (min)"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


HOURS_START, HOURS_END = "<!-- hours:start -->", "<!-- hours:end -->"


def readme_block(text: str, start: str, end: str) -> str:
    """The generated block of a README text between two markers, stripped."""
    return text.split(start, 1)[1].split(end, 1)[0].strip()


def _replace_block(text: str, start: str, end: str, block: str) -> str:
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    return f"{head}{start}\n{block}\n{end}{tail}"


def update_readme(path: Path, root: Path | None = None) -> bool:
    """Rewrite the README's results block and its CPU-hours block (:func:`ffrepro.hours.hours_markdown`, from
    the committed bench run of a CPU); return whether it changed."""
    from ffrepro import bench
    from ffrepro.hours import hours_markdown

    text = path.read_text()
    new = _replace_block(text, README_START, README_END, markdown_summary(root))
    new = _replace_block(new, HOURS_START, HOURS_END, hours_markdown(bench.load("cpu", root)))
    if new != text:
        path.write_text(new)
    return new != text
