"""Run many (experiment, seed) jobs of one profile as parallel processes within a time budget.

This is how the paper profile runs on one GPU: every entry whose results are missing or incomplete,
for the requested seeds, in the order of :data:`PRIORITY`, at most ``parallel`` processes at a time
(each ``python -m ffrepro run ID --profile P --seed S``, exactly what a cluster's job array would
call; with ``stack``, an entry's missing seeds as one ``run ID --seed 0 1 2 --stack`` where its
config stacks, :mod:`ffrepro.stacked`). A minibatch of 100 cannot fill a GPU, so several processes share it. Every job gets the
time left before the deadline as its ``--time-budget``: it stops after an epoch that would overrun,
evaluates and writes a result marked incomplete, and leaves its checkpoint to resume from. No job
starts with less than ``min_start_s`` left. Each job's log goes to ``log_dir``.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ffrepro.config import completed_with
from ffrepro.registry import EXPERIMENTS, all_ids, get_experiment
from ffrepro.report import metric_value
from ffrepro.results import ResultsError, atomic_write_bytes, read_result, result_path

# The order to run paper-scale entries in when time may run out (issue 12): the supervised family
# first, then the unsupervised entries, then the rest in registry order.
PRIORITY = ("mnist-ff-supervised", "mnist-ff-hard-negatives", "mnist-ff-supervised-fast", "mnist-ff-unsupervised", "mnist-ff-unsupervised-local", "mnist-ff-ffcode")


# The MNIST paper-profile campaign (issue 27): the entries that lack three complete paper-scale seeds,
# in the order they run on a CPU, a working day at a time (`make campaign`, scripts/campaign.sh).
# mnist-ff-blackbox's no-box twin is mnist-ff-supervised's config, so that entry's seeds serve it.
CAMPAIGN = (
    "mnist-ff-supervised", "mnist-ff-unsupervised-local", "mnist-ff-unsupervised", "mnist-ff-recurrent-2layers",
    "mnist-ff-recurrent", "mnist-bp-jitter", "mnist-ff-jitter", "mnist-ff-blackbox",
)


def ordered_ids(ids: list[str] | None = None) -> list[str]:
    """``ids`` (default: every entry and its variants): the :data:`PRIORITY` entries in that order, then
    the rest in registry order, an entry's variants ("ID/VARIANT") after the entry in the order it
    lists them (the variants of a priority entry with the rest, at its place in the registry)."""
    chosen = ids or all_ids()
    for exp_id in chosen:
        get_experiment(exp_id)  # an unknown id or variant fails before anything runs
    rank = {e: i for i, e in enumerate(PRIORITY)}
    registry = list(EXPERIMENTS)

    def key(exp_id: str) -> tuple[int, int, int]:
        base, _, variant = exp_id.partition("/")
        position = list(EXPERIMENTS[base].variants).index(variant) + 1 if variant else 0
        priority = rank.get(base, len(rank)) if not variant else len(rank)  # a priority entry's variants wait with the rest
        return (priority, registry.index(base), position)

    return sorted(dict.fromkeys(chosen), key=key)


def is_done(exp_id: str, profile: str, seed: int) -> bool:
    """A complete result for the entry's current config is on disk (an unreadable file is not done)."""
    path = result_path(exp_id, profile, seed)
    if not path.exists():
        return False
    try:
        result = read_result(path)
    except ResultsError:
        return False
    return completed_with(result, get_experiment(exp_id).config(profile))


@dataclass
class Job:
    exp_id: str
    seeds: tuple[int, ...]  # one seed, or several trained together as one stacked model (``run --stack``)
    profile: str
    log: Path
    process: subprocess.Popen | None = None
    started: float = 0.0
    ended: float = 0.0
    returncode: int | None = None
    extra_args: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.exp_id}/{self.profile}/seed{','.join(map(str, self.seeds))}"

    def command(self, python: str, minutes: float) -> list[str]:
        """``python -m ffrepro run`` for this job, with ``minutes`` as its time budget."""
        stack = ["--stack"] if len(self.seeds) > 1 else []
        return [python, "-m", "ffrepro", "run", self.exp_id, "--profile", self.profile, "--seed", *map(str, self.seeds), *stack,
                "--time-budget", f"{minutes:.3f}", "--no-progress", *self.extra_args]


def plan(profile: str, seeds: list[int], ids: list[str] | None, log_dir: Path, stack: bool = False, keep_order: bool = False) -> list[Job]:
    """The jobs still to run, in priority order (``keep_order``: in the order of ``ids``): entry by
    entry, seeds in the order given; one job per seed, or (``stack``) one job for an entry's missing
    seeds."""
    jobs = []
    for e in (list(dict.fromkeys(get_experiment(i).id for i in ids)) if keep_order and ids else ordered_ids(ids)):
        missing = [s for s in seeds if not is_done(e, profile, s)]
        if stack and len(missing) > 1:
            groups = [tuple(missing)]
        else:
            groups = [(s,) for s in missing]
        jobs += [Job(e, g, profile, log_dir / f"{e}.{profile}.seed{','.join(map(str, g))}.log") for g in groups]
    return jobs


def run_queue(
    jobs: list[Job],
    parallel: int,
    budget_s: float,
    min_start_s: float = 60.0,
    poll_s: float = 1.0,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
    status_every_s: float = 600.0,
) -> list[Job]:
    """Run ``jobs`` at most ``parallel`` at a time; training stops ``budget_s`` after the start.
    Every ``status_every_s`` the log gets each running job's epoch and projected finish
    (:func:`progress_text`).

    A job still running ``grace`` seconds after the deadline (evaluation that overran) is killed.
    Returns the jobs, with return codes (None: never started).
    """
    start = time.time()
    deadline = start + budget_s
    grace = max(60.0, 0.25 * budget_s)
    waiting, running, finished = list(jobs), [], []
    child_env = {**os.environ, **(env or {})}
    next_status = start + status_every_s
    while waiting or running:
        now = time.time()
        if running and now >= next_status:
            for job in running:
                _say(progress_text(job, now))
            next_status = now + status_every_s
        for job in list(running):
            rc = job.process.poll() if job.process else None
            if rc is None and now > deadline + grace:
                job.process.kill()
                rc = job.process.wait()
                _say(f"killed {job.name}: still running {grace:.0f} s after the deadline")
            if rc is not None:
                job.returncode, job.ended = rc, now
                running.remove(job)
                finished.append(job)
                _say(f"{'done' if rc == 0 else f'FAILED (exit {rc})'}: {job.name} after {job.ended - job.started:.0f} s; log {job.log}")
        while waiting and len(running) < parallel and deadline - now >= min_start_s:
            job = waiting.pop(0)
            minutes = (deadline - now) / 60
            cmd = job.command(python, minutes)
            job.log.parent.mkdir(parents=True, exist_ok=True)
            with open(job.log, "w") as log:
                job.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env)
            job.started = now
            running.append(job)
            _say(f"started {job.name} with {minutes:.1f} min left ({len(running)} running, {len(waiting)} waiting)")
        if waiting and not running and deadline - now < min_start_s:
            break  # out of time for the rest
        time.sleep(poll_s)
    for job in waiting:
        _say(f"not started (out of time): {job.name}")
    return finished + waiting


_EPOCH_LINE = re.compile(r"epoch (\d+)/(\d+):.*seconds=([0-9.]+)")


def progress_text(job: Job, now: float | None = None) -> str:
    """What a running job's log says of it: its last epoch, the median of its last five epochs'
    seconds, and when it will finish at that pace (training only; evaluation comes after)."""
    now = time.time() if now is None else now
    try:
        matches = _EPOCH_LINE.findall(job.log.read_text(errors="replace"))
    except OSError:
        matches = []
    if not matches:
        return f"running {job.name}: no epoch finished yet ({(now - job.started) / 60:.0f} min in)"
    done, total = int(matches[-1][0]), int(matches[-1][1])
    pace = statistics.median(float(m[2]) for m in matches[-5:])
    left = (total - done) * pace
    finish = time.strftime("%H:%M", time.localtime(now + left))
    return f"running {job.name}: epoch {done}/{total}, {pace:.0f} s an epoch, projected to finish training at {finish} ({left / 3600:.1f} h)"


def landable(source: Path, ids: tuple[str, ...] = CAMPAIGN, seeds: tuple[int, ...] = (0, 1, 2), profile: str = "paper") -> list[tuple[Path, Path]]:
    """(source file, destination file) for each complete result of the registry's current config under
    ``source`` (a campaign worktree's results/) that this checkout's results root lacks or holds
    otherwise (missing, unfinished, or another run)."""
    pairs = []
    for exp_id in ids:
        cfg = get_experiment(exp_id).config(profile)
        for seed in seeds:
            src, dst = result_path(exp_id, profile, seed, source), result_path(exp_id, profile, seed)
            try:
                if not completed_with(read_result(src), cfg):
                    continue
            except (ResultsError, OSError):
                continue
            if not dst.exists() or dst.read_bytes() != src.read_bytes():
                pairs.append((src, dst))
    return pairs


def land(pairs: list[tuple[Path, Path]]) -> None:
    """Copy each finished result into place (atomically; what it replaces is in git)."""
    for src, dst in pairs:
        atomic_write_bytes(dst, src.read_bytes())
        _say(f"landed {dst}")


def summary(jobs: list[Job]) -> str:
    """One line per job: outcome, seconds, and each seed's epochs and test error where it wrote a result."""
    lines = [f"{'job':45} {'outcome':10} {'seconds':>7}  result"]
    for job in jobs:
        outcome = "not run" if job.returncode is None else ("ok" if job.returncode == 0 else f"exit {job.returncode}")
        texts = {}  # seed -> what its result says
        for seed in job.seeds:
            path = result_path(job.exp_id, job.profile, seed)
            if job.returncode == 0 and path.exists():
                try:
                    r = read_result(path)
                    metric = get_experiment(job.exp_id).metric
                    texts[seed] = f"{r['epochs_done']}/{r['config']['optim']['epochs']} epochs, {metric} {metric_value(r, metric):.2f} %"
                except (ResultsError, KeyError) as exc:
                    texts[seed] = f"unreadable: {exc}"
        text = "; ".join(f"seed {seed}: {t}" for seed, t in texts.items()) if len(job.seeds) > 1 else "".join(texts.values())
        secs = f"{job.ended - job.started:7.0f}" if job.returncode is not None else "      -"
        lines.append(f"{job.name:45} {outcome:10} {secs}  {text}")
    return "\n".join(lines)


def _say(msg: str) -> None:
    print(f"[queue {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
