"""Run one (experiment, profile, seed): resumable, checkpointed every epoch, results written atomically."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ffrepro import data as data_mod
from ffrepro.config import ConfigError, RunConfig, completed_with, config_changes, same_config
from ffrepro.registry import get_experiment
from ffrepro.results import (
    SCHEMA_VERSION,
    SET_PREFIX,
    ResultsError,
    atomic_write_bytes,
    checkpoint_root,
    move_aside,
    provenance,
    read_result,
    result_path,
    write_result,
)
from ffrepro.methods import METHODS, as_run, run_precision, stacked_trainer
from ffrepro.trainer import Trainer


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: torch.device | str | None) -> torch.device:
    """``device`` as a torch device (None: :func:`default_device`); :class:`ConfigError` for a name torch
    does not know, a kind other than cpu and cuda, or a GPU this machine does not have."""
    if device is None:
        return default_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"unknown device {str(device)!r}; use --device cpu or --device cuda (cuda:N for GPU N), or leave it out for cuda where available") from None
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {str(device)!r} is not supported; use --device cpu or --device cuda, or leave it out for cuda where available")
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            why = "this torch is built without CUDA" if torch.version.cuda is None else "no NVIDIA GPU or driver answers"
            raise ConfigError(f"device {str(device)!r} asked for, but torch sees no GPU here ({why}); use --device cpu, or leave --device out")
        if dev.index is not None and dev.index >= count:
            raise ConfigError(f"device {str(device)!r} asked for, but torch sees {count} GPU(s) here; use cuda:0 to cuda:{count - 1} or --device cpu")
    return dev


def set_folder(exp_id: str, profile: str, cfg: RunConfig) -> str | None:
    """The folder, below ``ID/PROFILE/``, of the results and checkpoints of a config that differs from the
    registry's for (``exp_id``, ``profile``) (``--set``): ``set-CHANGES-HASH``, e.g.
    ``set-optim.epochs=1-3fa2c1d0``: the changed fields (cut at 100 characters) and the first 8 hex digits
    of the whole config's sha256. None for the registry's own config, whose files are ``ID/PROFILE/seedS.*``."""
    changes = config_changes(get_experiment(exp_id).config(profile), cfg)
    if not changes:
        return None
    text = re.sub(r"[^A-Za-z0-9._=,+-]", "_", ",".join(f"{k}={_short(v)}" for k, v in changes.items()))
    text = text if len(text) <= 100 else text[:97] + "..."
    digest = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
    return f"{SET_PREFIX}{text}-{digest}"


def _short(value: Any) -> str:
    """A config value as it reads in a folder name: 500x500, true, none, 0.002."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, list):
        return "x".join(str(v) for v in value) if all(isinstance(v, int) for v in value) else "changed"
    return f"{value:g}" if isinstance(value, float) else str(value)


def checkpoint_path(exp_id: str, profile: str, seed: int, root: Path | None = None, folder: str | None = None) -> Path:
    """``ROOT/ID/PROFILE/seedS.pt``, or ``ROOT/ID/PROFILE/FOLDER/seedS.pt`` for a changed config (:func:`set_folder`)."""
    return (root or checkpoint_root()) / exp_id / profile / (folder or "") / f"seed{seed}.pt"


PERTURB_ENV = "FFREPRO_PERTURB_START"


def perturbation() -> float:
    """The relative size of the nudge ``FFREPRO_PERTURB_START`` asks for (0: none); a clear error if it is not a number."""
    raw = os.environ.get(PERTURB_ENV, "").strip()
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{PERTURB_ENV}={raw!r} is not a number; set it to a relative size such as 1e-6, or unset it") from None
    if not 0 <= value < 1e-2:
        raise ValueError(f"{PERTURB_ENV}={raw!r} is outside [0, 0.01): it stands in for rounding, so use a size such as 1e-6")
    return value


def perturb_start(net: torch.nn.Module, size: float, seed: int) -> None:
    """Multiply every initial parameter by ``1 + size x N(0, 1)``, drawn from a generator of its own.

    A stand-in for another machine's rounding (the smoke references' "perturbed start" variant,
    :data:`ffrepro.references.REFERENCE_VARIANTS`): the same seed, data order and code, but the last
    bits of the start differ, and training amplifies them into another trajectory, as a different
    summation order in another CPU's kernels does. The global RNG and the data-order generator are
    left as they were. Zero-initialised parameters (biases, the readout) stay zero."""
    draws = torch.Generator().manual_seed(1_000_003 + seed)
    with torch.no_grad():
        for param in net.parameters():
            if param.is_floating_point():
                noise = torch.randn(param.shape, generator=draws, dtype=torch.float64)
                param.mul_((1 + size * noise).to(param.dtype).to(param.device))


def _log(msg: str) -> None:
    print(f"[ffrepro {datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class _Job:
    """One (experiment, profile, seed) being trained: its trainer and generator, where it writes, and
    what it has done so far (resumed from its checkpoint or not)."""

    exp_id: str
    profile: str
    folder: str | None  # set_folder: None for the registry's config
    seed: int
    cfg: RunConfig
    out_path: Path
    old: dict[str, Any] | None
    trainer: Trainer
    generator: torch.Generator
    ckpt: Path
    origin: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def tag(self) -> str:
        return f"{self.exp_id}/{self.profile}/{self.folder + '/' if self.folder else ''}seed{self.seed}"


def run(exp_id: str, profile: str = "paper", seed: int = 0, **options: Any) -> dict[str, Any]:
    """Train and evaluate; return the result (also written to ``results/ID/PROFILE/seedS.json``, or, for a
    ``config`` other than the registry's, ``results/ID/PROFILE/set-CHANGES-HASH/seedS.json``: :func:`set_folder`).

    A complete result already on disk for the same config is returned as is (unless ``fresh``).
    A checkpoint for the same config is resumed. With ``time_budget_s`` or ``stop_after_epochs`` the
    run may stop early: the weights so far are evaluated and written with ``"complete": false``, and
    a later call resumes from the checkpoint. ``options``: :func:`run_seeds`' keywords (``config``,
    ``fresh``, ``device``, ``results_dir``, ``checkpoint_dir``, ``time_budget_s``, ``stop_after_epochs``,
    ``progress``).
    """
    return run_seeds(exp_id, profile, [seed], **options)[0]


def run_seeds(
    exp_id: str,
    profile: str = "paper",
    seeds: list[int] | tuple[int, ...] = (0,),
    *,
    config: RunConfig | None = None,
    stack: bool = False,
    fresh: bool = False,
    device: torch.device | str | None = None,
    results_dir: Path | None = None,
    checkpoint_dir: Path | None = None,
    time_budget_s: float | None = None,
    stop_after_epochs: int | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """:func:`run` for each of ``seeds``, in order; returns their results.

    ``stack``: the seeds that still train and stand at the same epoch train together as one stacked
    model (:mod:`ffrepro.stacked`): one batched product per layer for all of them, the same numbers per
    seed up to float rounding, the same checkpoints and results (their provenance lists the seeds
    stacked). The time budget counts from the call, for all the seeds.
    """
    exp = get_experiment(exp_id)
    cfg = config or exp.config(profile)
    started = time.time()
    dev = resolve_device(device)
    folder = set_folder(exp_id, profile, cfg)  # a changed config never writes over the registry's files
    if folder is not None:
        _log(f"{exp_id}/{profile}: the config differs from the registry's ({', '.join(f'{k}={v}' for k, v in config_changes(exp.config(profile), cfg).items())}); "
             f"its results and checkpoints go to {exp_id}/{profile}/{folder}/")
    done: dict[int, dict[str, Any]] = {}
    dataset = None
    jobs: list[_Job] = []
    for seed in seeds:
        out_path = result_path(exp_id, profile, seed, results_dir, folder)
        old = _existing_result(out_path)
        if old is not None and not fresh and completed_with(old, cfg):
            _log(f"{exp_id}/{profile}/seed{seed}: reusing {out_path}")
            done[seed] = old
            continue
        if dataset is None:
            dataset = _load_data(cfg, dev)
        ckpt = checkpoint_path(exp_id, profile, seed, checkpoint_dir, folder)
        jobs.append(_start_job(exp_id, profile, folder, seed, cfg, dataset, dev, out_path, old, fresh, ckpt))
    groups: list[list[_Job]] = [[job] for job in jobs]
    if stack:  # the seeds that resume after the same epoch train together
        by_epoch: dict[int, list[_Job]] = {}
        for job in jobs:
            by_epoch.setdefault(len(job.history), []).append(job)
        groups = list(by_epoch.values())
    for group in groups:
        budget = None if time_budget_s is None else time_budget_s - (time.time() - started)
        _train(group, budget, stop_after_epochs, progress)
        for job in group:
            done[job.seed] = _finish_job(job, dev, results_dir)
    return [done[seed] for seed in seeds]


def _load_data(cfg: RunConfig, dev: torch.device) -> data_mod.Dataset:
    if os.environ.get("FFREPRO_TF32") == "1":  # float32 matmuls on a GPU's TF32 units; the provenance says so
        torch.backends.cuda.matmul.allow_tf32 = True
    elif os.environ.get("FFREPRO_TF32") == "0":
        torch.backends.cuda.matmul.allow_tf32 = False
    dataset = data_mod.load(cfg.data.dataset, dev)
    return data_mod.standardize(dataset) if cfg.data.standardize else dataset


def _start_job(exp_id: str, profile: str, folder: str | None, seed: int, cfg: RunConfig, dataset: data_mod.Dataset, dev: torch.device, out_path: Path,
               old: dict[str, Any] | None, fresh: bool, ckpt: Path) -> _Job:
    """A freshly initialised trainer for ``seed``, resumed from its checkpoint ``ckpt`` where one fits (not
    with ``fresh``). A checkpoint there of another config is moved aside, never overwritten."""
    precision, choice = run_precision(cfg, dev)  # model.precision "auto" decides here, for this device
    origin = provenance(dev, dataset.hashes, precision)  # taken now: the code that trains is the code at the start
    if choice is not None:
        origin["precision_choice"] = choice
    trained = as_run(cfg, precision)  # the config the trainer is built from; results and checkpoints keep cfg
    generator = torch.Generator(dev)
    nudge = perturbation()
    if nudge:
        origin["perturbed_start"] = nudge

    def new_trainer() -> Trainer:
        """A freshly initialised trainer: the seed fixes the weights (global RNG) and the data order (generator)."""
        torch.manual_seed(seed)
        generator.manual_seed(seed)
        trainer = METHODS[cfg.method].trainer(trained, dataset, generator)
        if nudge:
            perturb_start(trainer.net, nudge, seed)
        return trainer

    job = _Job(exp_id, profile, folder, seed, cfg, out_path, old, new_trainer(), generator, ckpt, origin)
    state = _load_checkpoint(ckpt, dev)  # read even with fresh: one of another config must not be overwritten
    if state is not None and not same_config(state["config"], cfg):
        _log(f"{job.tag}: checkpoint {ckpt} has another config; moved it to {move_aside(ckpt, 'other-config')}; starting afresh")
    elif state is not None and fresh:
        _log(f"{job.tag}: --fresh: starting afresh; checkpoint {ckpt} of the same config is replaced after epoch 1")
    elif state is not None:
        try:
            job.trainer.load_state_dict(state["trainer"])
            generator.set_state(state["generator"].to(generator.get_state().device))
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            job.trainer = new_trainer()  # undo a half-loaded state
            _log(f"warning: {ckpt} does not fit this model ({type(exc).__name__}: {str(exc)[:200]}); moved to {move_aside(ckpt)}; starting afresh")
        else:
            job.history, job.elapsed = state["history"], state["elapsed_s"]
            earlier = state.get("starts") or [{"epochs_before": 0, "note": "a checkpoint from before starts were recorded"}]
            job.origin["starts"] = [*earlier, _start_record(origin, len(job.history))]
            _log(f"{job.tag}: resuming after epoch {len(job.history)} from {ckpt}")
    job.origin.setdefault("starts", [_start_record(origin, 0)])
    return job


def _start_record(origin: dict[str, Any], epochs_before: int) -> dict[str, Any]:
    """What one start of a run trained with (a run resumed on another machine, with other threads or from
    other code trains its epochs in parts): from its provenance, and the epochs done before it."""
    keys = ("device", "threads", "cpu_model", "host", "git_commit", "git_dirty", "precision")
    return {"epochs_before": epochs_before, "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), **{k: origin.get(k) for k in keys}}


def _train(jobs: list[_Job], time_budget_s: float | None, stop_after_epochs: int | None, progress: bool) -> None:
    """Train ``jobs`` (all at the same epoch) to the end or until stopped; one job alone, or several
    stacked (:func:`ffrepro.methods.stacked_trainer`). Every epoch is checkpointed per job."""
    head = jobs[0]
    stacked = stacked_trainer([job.trainer for job in jobs]) if len(jobs) > 1 else None
    if stacked is not None:
        for job in jobs:
            job.origin["stacked_seeds"] = [j.seed for j in jobs]
        _log(f"{head.exp_id}/{head.profile}: seeds {', '.join(str(j.seed) for j in jobs)} stacked into one model")
    started = time.time()
    epochs = head.cfg.optim.epochs
    label = head.exp_id + (f" seeds {','.join(str(j.seed) for j in jobs)}" if stacked else "")
    for epoch in range(len(head.history) + 1, epochs + 1):
        if stop_after_epochs is not None and epoch > stop_after_epochs:  # 0: evaluate the checkpoint as it is
            _log(f"stopping before epoch {epoch} (--stop-after-epochs {stop_after_epochs}); rerun without it to resume")
            break
        t0 = time.time()
        bar = tqdm(total=head.trainer.batches(), desc=f"{label} {head.profile} epoch {epoch}/{epochs}", disable=not progress, leave=False, mininterval=2)
        per_job = stacked.train_epoch(epoch, bar) if stacked is not None else [head.trainer.train_epoch(epoch, bar)]
        bar.close()
        seconds = time.time() - t0
        for job, metrics in zip(jobs, per_job):
            metrics["epoch"] = epoch
            metrics["seconds"] = seconds / len(jobs)  # a stacked epoch's time, shared equally
            job.history.append(metrics)
            job.elapsed += metrics["seconds"]
            _save_checkpoint(job.ckpt, job.cfg, job.trainer, job.generator, job.history, job.elapsed, job.origin.get("starts"))
            summary = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, float))
            _log(f"{job.tag} epoch {epoch}/{epochs}: {summary}")
        out_of_time = time_budget_s is not None and time.time() - started + seconds > time_budget_s
        if epoch < epochs and out_of_time:
            _log(f"out of time after epoch {epoch}; rerun the same command to resume")
            break


def _finish_job(job: _Job, dev: torch.device, results_dir: Path | None) -> dict[str, Any]:
    """Evaluate the job's trainer and write its result (never a partial one over a complete one)."""
    t0 = time.time()
    final = job.trainer.evaluate()
    eval_s = time.time() - t0
    if dev.type == "cuda":
        job.origin["gpu"]["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(dev) / 2**30, 2)
    epochs = job.cfg.optim.epochs
    result = {
        "schema_version": SCHEMA_VERSION,
        "experiment": job.exp_id,
        "profile": job.profile,
        "seed": job.seed,
        "complete": len(job.history) == epochs,
        "epochs_done": len(job.history),
        "config": job.cfg.to_dict(),
        "final": final,
        "history": job.history,
        "extras": job.trainer.extras(),
        "wall_time_s": {"train": job.elapsed, "evaluate": eval_s},
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "provenance": job.origin,
    }
    out_path = job.out_path
    if not result["complete"] and job.old is not None and job.old["complete"]:
        # a good result is never replaced by a partial one: the partial goes beside the checkpoint
        out_path = job.ckpt.with_suffix(".partial.json")
        _log(f"{job.tag}: keeping the complete result already in {job.out_path}; the partial one goes to {out_path}")
    write_result(out_path, result)
    _log(f"{job.tag}: wrote {out_path} ({'complete' if result['complete'] else 'PARTIAL'}): {final['test']}")
    return result


def _existing_result(path: Path) -> dict[str, Any] | None:
    """The results file already at ``path``, or None; an unreadable one is moved aside with a warning."""
    if not path.exists():
        return None
    try:
        return read_result(path)
    except ResultsError as exc:
        _log(f"warning: {path} {exc.problem}; moved it to {move_aside(path)}; this run recreates it")
        return None


def _save_checkpoint(path: Path, cfg: RunConfig, trainer: Trainer, generator: torch.Generator, history: list[dict[str, Any]], elapsed: float,
                     starts: list[dict[str, Any]] | None = None) -> None:
    """Tensors and plain JSON-able values only, so that :func:`_load_checkpoint` can refuse code. ``starts``:
    where and how each start of the run so far trained (:func:`_start_record`)."""
    state = {"config": cfg.to_dict(), "trainer": trainer.state_dict(), "generator": generator.get_state(), "history": history, "elapsed_s": elapsed,
             "starts": starts or []}
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


CHECKPOINT_KEYS = ("config", "trainer", "generator", "history", "elapsed_s")


def _load_checkpoint(path: Path, device: torch.device) -> dict[str, Any] | None:
    """The checkpoint at ``path`` or None. Loaded with ``weights_only=True`` (tensors and plain types
    only: a file from elsewhere cannot run code); an unreadable one is moved aside with a warning."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        if not isinstance(state, dict) or any(k not in state for k in CHECKPOINT_KEYS):
            raise ValueError(f"not an ffrepro checkpoint (expected the keys {', '.join(CHECKPOINT_KEYS)})")
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        _log(f"warning: checkpoint {path} is unreadable ({type(exc).__name__}: {first_line}); moved to {move_aside(path)}; starting afresh")
        return None
    return state
