"""Tables computed from results files: the tolerance check and the paper-vs-reproduced table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffrepro.config import PROFILES
from ffrepro.registry import EXPERIMENTS, Experiment
from ffrepro.results import load_results


def metric_value(result: dict[str, Any], metric: str) -> float:
    split, mode = metric.split(".")
    return result["final"][split][mode]


@dataclass(frozen=True)
class Check:
    experiment: str
    profile: str
    paper: float
    values: tuple[float, ...]  # one per seed
    tolerance: float
    complete: bool  # every seed finished all its epochs

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def status(self) -> str:
        if not self.complete:
            return "PARTIAL"
        return "PASS" if abs(self.mean - self.paper) <= self.tolerance else "FAIL"


def check_one(exp: Experiment, profile: str, root: Path | None = None) -> Check | None:
    results = load_results(exp.id, profile, root)
    if not results:
        return None
    return Check(
        experiment=exp.id,
        profile=profile,
        paper=exp.paper_value,
        values=tuple(metric_value(r, exp.metric) for r in results),
        tolerance=exp.tolerance[profile],
        complete=all(r["complete"] for r in results),
    )


def check_all(profiles: tuple[str, ...] = ("cpu", "paper"), root: Path | None = None) -> list[Check]:
    """Compare every committed result with the paper's number (smoke is compared with its reference elsewhere)."""
    return [c for exp in EXPERIMENTS.values() for p in profiles if (c := check_one(exp, p, root)) is not None]


def format_checks(checks: list[Check]) -> str:
    lines = [f"{'experiment':28} {'profile':7} {'seeds':>5} {'ours %':>7} {'paper %':>7} {'tol':>5}  status"]
    for c in checks:
        lines.append(f"{c.experiment:28} {c.profile:7} {len(c.values):5d} {c.mean:7.2f} {c.paper:7.2f} {c.tolerance:5.2f}  {c.status}")
    return "\n".join(lines)


def summary_rows(exp_ids: list[str] | None = None, profiles: tuple[str, ...] = PROFILES, root: Path | None = None) -> list[dict[str, Any]]:
    """One row per (experiment, profile) with results: paper vs reproduced, with provenance."""
    rows = []
    for exp in EXPERIMENTS.values():
        if exp_ids is not None and exp.id not in exp_ids:
            continue
        for profile in profiles:
            results = load_results(exp.id, profile, root)
            if not results:
                continue
            c = check_one(exp, profile, root)
            assert c is not None
            first = results[0]
            rows.append(
                {
                    "experiment": exp.id,
                    "section": exp.section,
                    "profile": profile,
                    "seeds": ", ".join(str(r["seed"]) for r in results),
                    "epochs": f"{first['epochs_done']}/{first['config']['optim']['epochs']}",
                    "hidden": "x".join(str(h) for h in first["config"]["model"]["hidden"]),
                    "paper %": exp.paper_value,
                    "ours %": round(c.mean, 2),
                    "tolerance": f"±{c.tolerance}" if profile != "smoke" else "n/a",
                    "status": c.status if profile != "smoke" else "smoke",
                    "device": first["provenance"]["device"],
                    "wall time (min)": round(sum(r["wall_time_s"]["train"] + r["wall_time_s"]["evaluate"] for r in results) / 60, 1),
                }
            )
    return rows


README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


def markdown_summary(root: Path | None = None) -> str:
    """The reproduced-vs-paper table shown in the README, from the committed results."""
    rows = summary_rows(profiles=("cpu", "paper"), root=root)
    cols = ["experiment", "profile", "epochs", "hidden", "paper %", "ours %", "tolerance", "status", "device", "wall time (min)"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def update_readme(path: Path, root: Path | None = None) -> bool:
    """Rewrite the README's results block; return whether it changed."""
    text = path.read_text()
    head, _, rest = text.partition(README_START)
    _, _, tail = rest.partition(README_END)
    new = f"{head}{README_START}\n{markdown_summary(root)}\n{README_END}{tail}"
    if new != text:
        path.write_text(new)
    return new != text
