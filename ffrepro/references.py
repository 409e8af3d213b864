"""Smoke references: what a fresh smoke run must reproduce on any machine, at any thread count.

A smoke run cannot reproduce the digits of another machine's run: BLAS kernels (AVX2, AVX-512, AMX,
NEON) and thread counts sum in different orders, and three epochs of training amplify the last-bit
differences into a different trajectory. So a reference is not one run but a small sample of the
run-to-run variation, and the band a fresh run must fall in is derived from statistics:

* ``reference.json`` (``results/ID/smoke/``) keeps the final metrics and last-epoch statistics of
  the smoke profile for seeds :data:`REFERENCE_SEEDS` in each of :data:`REFERENCE_VARIANTS` (1 and
  2 threads, portable kernels, and a perturbed start), on the machine that made it. Threads and
  kernels can change little on one machine (1 and 2 threads gave bit-identical runs of 9 of the 22
  entries here; the portable kernels moved mnist-ff-unsupervised's last-layer FF loss by 0.002), so
  the perturbed start is what makes sure every entry's sample holds trajectories that differ as
  another machine's would: each initial weight is multiplied by ``1 + 1e-6 x N(0, 1)``
  (:func:`ffrepro.runner.perturb_start`). Without it, a rounding-level change of the code moved
  mnist-ff-unsupervised's last-layer FF loss (seed 0) from 0.987 to 1.125, outside the band
  0.923 ± 0.108 that the seeds alone had made; nudges of 1e-7 to 1e-5 gave 0.90-1.00 for that seed.
* An error rate (percent of ``n`` evaluated images) passes when it is within
  ``SE_FACTOR x se + spread`` of the reference mean, where ``se = 100 sqrt(p (1 - p) / n)`` is the
  binomial standard error of the split at the reference error ``p`` (with one pseudo-count each
  way, so a 0 % error still gets a band) and ``spread`` is the largest distance of a reference run
  from the mean, across seeds, thread counts, kernels and starts. The binomial term covers which
  images a differently trained net gets wrong; the spread term covers the measured variation from
  trajectory to trajectory, of which another machine's kernels are one more draw. ``SE_FACTOR = 4``: under a normal
  approximation a correct run fails one metric with probability 6e-5, so even the ~60 metrics of all
  entries together give a false alarm well under 1 % (a Bonferroni bound), before the spread term.
* A training statistic of the last epoch (goodness of positive and negative data per layer, the
  FF and readout losses, BP's training loss) passes when it is within
  ``STAT_FACTOR x spread + STAT_RELATIVE x |mean|`` of the reference mean; the relative term keeps
  a band when every reference run agrees to the digit. These catch bugs that move what the layers
  compute without moving the error much (a threshold off by a factor of 2 doubles the goodness).

The bands are computed here from the runs stored in the file, never stored themselves, so the file
cannot carry a hand-widened band. ``python -m ffrepro references`` regenerates the files.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffrepro.config import RunConfig, same_config
from ffrepro.registry import get_experiment
from ffrepro.runner import PERTURB_ENV
from ffrepro.results import REPO_ROOT, ResultsError, atomic_write_bytes, cpu_features, cpu_model, read_json_object, read_result, result_path, results_root, shape_problem

REFERENCE_SEEDS = (0, 1, 2)
# How the reference runs differ besides the seed: thread counts, and torch's portable vector kernels
# with MKL held to SSE4.2 as a stand-in for another machine's kernels (on this project's AMD machine
# that moved a smoke test error by 1.7 points, as much as another seed).
REFERENCE_VARIANTS: dict[str, dict[str, str]] = {
    "2 threads": {"OMP_NUM_THREADS": "2"},
    "1 thread": {"OMP_NUM_THREADS": "1"},
    "1 thread, portable kernels": {"OMP_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
    "2 threads, perturbed start": {"OMP_NUM_THREADS": "2", PERTURB_ENV: "1e-6"},
}
SE_FACTOR = 4.0
STAT_FACTOR = 3.0
STAT_RELATIVE = 0.05
STAT_KEYS = ("pos_goodness", "neg_goodness", "ff_loss", "readout_loss", "train_loss")  # last epoch, where present
REFERENCE_VERSION = 1

Result = dict[str, Any]


def reference_path(exp_id: str, root: Path | None = None) -> Path:
    return (root or results_root()) / exp_id / "smoke" / "reference.json"


def _stats(result: Result) -> dict[str, float]:
    """The last epoch's training statistics as flat ``key`` / ``key[layer]`` scalars."""
    last = result["history"][-1]
    out: dict[str, float] = {}
    for key in STAT_KEYS:
        value = last.get(key)
        if isinstance(value, list):
            out.update({f"{key}[{i}]": float(v) for i, v in enumerate(value)})
        elif isinstance(value, (int, float)):
            out[key] = float(value)
    return out


def _metrics(result: Result) -> dict[str, float]:
    """The final error rates as flat ``split.mode`` scalars (percent)."""
    return {f"{split}.{mode}": float(v) for split, modes in result["final"].items() for mode, v in modes.items()}


@dataclass(frozen=True)
class Band:
    """The interval a fresh run's value must fall in, and how it was derived."""

    name: str
    mean: float
    half_width: float
    derivation: str

    def contains(self, value: float) -> bool:
        return abs(value - self.mean) <= self.half_width

    def describe(self, value: float) -> str:
        return f"{self.name} = {value:.4g}, reference {self.mean:.4g} ± {self.half_width:.3g} ({self.derivation})"


def binomial_se(error_percent: float, n: int) -> float:
    """Standard error (percentage points) of an error rate measured on ``n`` images, one pseudo-count each way."""
    p = (error_percent / 100 * n + 1) / (n + 2)
    return 100 * math.sqrt(p * (1 - p) / n)


def bands(reference: dict[str, Any]) -> dict[str, Band]:
    """Every band of a reference, computed from its stored runs (see the module docstring)."""
    runs = reference["runs"]
    n = reference["eval_examples"]
    out: dict[str, Band] = {}
    for kind, extract in (("metric", _metrics), ("stat", _stats)):
        values: dict[str, list[float]] = {}
        for run in runs:
            for key, v in extract(run).items():
                values.setdefault(key, []).append(v)
        for key, vs in values.items():
            if len(vs) != len(runs):
                continue  # a statistic that only some runs logged cannot be compared
            mean = statistics.fmean(vs)
            spread = max(abs(v - mean) for v in vs)
            if kind == "metric":
                se = binomial_se(mean, n)
                half = SE_FACTOR * se + spread
                how = f"{SE_FACTOR:g} x binomial se {se:.2f} on {n:,} images + spread {spread:.2f} over {len(vs)} runs"
            else:
                half = STAT_FACTOR * spread + STAT_RELATIVE * abs(mean)
                how = f"{STAT_FACTOR:g} x spread {spread:.3g} over {len(vs)} runs + {STAT_RELATIVE:.0%} of the mean"
            out[key] = Band(key, mean, half, how)
    return out


def compare_values(result: Result, reference: dict[str, Any]) -> list[str]:
    """The metrics and statistics of ``result`` that fall outside the reference's bands (empty: it matches)."""
    values = {**_metrics(result), **_stats(result)}
    problems = []
    for key, band in bands(reference).items():
        if key not in values:
            problems.append(f"{key} missing from the fresh run (reference {band.mean:.4g})")
        elif not band.contains(values[key]):
            problems.append(band.describe(values[key]))
    return problems


def compare(result: Result, reference: dict[str, Any]) -> list[str]:
    """Like :func:`compare_values`, after checking that the run used the reference's configuration."""
    if not same_config(reference["config"], RunConfig.from_dict(result["config"])):
        return ["the smoke config differs from the reference's: regenerate it with `python -m ffrepro references`"]
    return compare_values(result, reference)


def read_reference(exp_id: str, root: Path | None = None) -> dict[str, Any]:
    """The reference of one experiment; :class:`ResultsError` (file, problem, fix) if missing or unreadable."""
    path = reference_path(exp_id, root)
    fix = f"regenerate it with `python -m ffrepro references {exp_id}`"
    ref = read_json_object(path, "reference", fix)
    if ref.get("reference_version") != REFERENCE_VERSION or not ref.get("runs"):
        raise ResultsError(path, f"is not a version-{REFERENCE_VERSION} reference with runs", fix)
    fields = ("seed", "config", "final", "history", "provenance")
    for i, run in enumerate(ref["runs"]):  # each run has a results file's shape (final error rates as numbers, ...)
        missing = [k for k in fields if not isinstance(run, dict) or k not in run]
        problem = f"lacks the field(s) {', '.join(missing)}" if missing else shape_problem(run, fields)
        if problem:
            raise ResultsError(path, f"run {i} {problem}", fix)
    return ref


def make_reference(exp_id: str, root: Path | None = None, seeds: Iterable[int] = REFERENCE_SEEDS) -> dict[str, Any]:
    """Run the smoke profile for every seed in every :data:`REFERENCE_VARIANTS`; write and return the reference.

    Each run is a separate ``python -m ffrepro run`` process, because thread counts and kernel
    choices are fixed when torch starts. The runs of the first variant are also written as the
    experiment's ordinary smoke results.
    """
    root = root or results_root()
    cfg = get_experiment(exp_id).config("smoke")
    if cfg.data.eval_examples is None:
        raise ValueError("the smoke profile must name data.eval_examples: the bands need the number of evaluated images")
    runs = []
    base = {k: v for k, v in os.environ.items() if k != PERTURB_ENV}  # only the variant that asks is perturbed
    for i, (variant, env) in enumerate(REFERENCE_VARIANTS.items()):
        for seed in seeds:
            with tempfile.TemporaryDirectory() as tmp:
                out = root if i == 0 else Path(tmp) / "results"
                cmd = [sys.executable, "-m", "ffrepro", "run", exp_id, "--profile", "smoke", "--seed", str(seed), "--device", "cpu", "--fresh", "--no-progress"]
                proc = subprocess.run(cmd, env={**base, **env, "FFREPRO_RESULTS": str(out), "FFREPRO_CHECKPOINTS": str(Path(tmp) / "ckpt"), "PYTHONPATH": str(REPO_ROOT)},
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    raise RuntimeError(f"{' '.join(cmd)} ({variant}) failed:\n{proc.stderr[-2000:]}")
                r = read_result(result_path(exp_id, "smoke", seed, out))
            runs.append({k: r[k] for k in ("seed", "config", "final", "history")} | {"variant": variant, "provenance": r["provenance"]})
    ref = {
        "reference_version": REFERENCE_VERSION,
        "experiment": exp_id,
        "config": cfg.to_dict(),
        "eval_examples": cfg.data.eval_examples,
        "machine": {"cpu_model": cpu_model(), "cpu_features": cpu_features()},
        "runs": runs,
    }
    atomic_write_bytes(reference_path(exp_id, root), (json.dumps(ref, indent=1) + "\n").encode())
    return ref


def format_bands(reference: dict[str, Any]) -> str:
    """A readable listing of the bands of one reference."""
    return "\n".join(f"  {b.name:32} {b.mean:9.4g} ± {b.half_width:<8.3g} {b.derivation}" for b in bands(reference).values())
