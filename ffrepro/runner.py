"""Run one (experiment, profile, seed): resumable, checkpointed every epoch, results written atomically."""

from __future__ import annotations

import io
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ffrepro import data as data_mod
from ffrepro.bp import BPTrainer
from ffrepro.config import RunConfig
from ffrepro.registry import get_experiment
from ffrepro.results import (
    SCHEMA_VERSION,
    atomic_write_bytes,
    checkpoint_root,
    provenance,
    read_result,
    result_path,
    write_result,
)
from ffrepro.supervised import FFSupervisedTrainer
from ffrepro.trainer import Trainer
from ffrepro.unsupervised import FFUnsupervisedTrainer


TRAINERS: dict[str, type[Trainer]] = {"ff-supervised": FFSupervisedTrainer, "ff-unsupervised": FFUnsupervisedTrainer, "bp": BPTrainer}


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def checkpoint_path(exp_id: str, profile: str, seed: int, root: Path | None = None) -> Path:
    return (root or checkpoint_root()) / exp_id / profile / f"seed{seed}.pt"


def _log(msg: str) -> None:
    print(f"[ffrepro {datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(
    exp_id: str,
    profile: str = "paper",
    seed: int = 0,
    *,
    config: RunConfig | None = None,
    fresh: bool = False,
    device: torch.device | str | None = None,
    results_dir: Path | None = None,
    checkpoint_dir: Path | None = None,
    time_budget_s: float | None = None,
    stop_after_epochs: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train and evaluate; return the result (also written to ``results/ID/PROFILE/seedS.json``).

    A complete result already on disk for the same config is returned as is (unless ``fresh``).
    A checkpoint for the same config is resumed. With ``time_budget_s`` or ``stop_after_epochs`` the
    run may stop early: the weights so far are evaluated and written with ``"complete": false``, and
    a later call resumes from the checkpoint.
    """
    exp = get_experiment(exp_id)
    cfg = config or exp.config(profile)
    out_path = result_path(exp_id, profile, seed, results_dir)
    if out_path.exists() and not fresh:
        old = read_result(out_path)
        if old["config"] == cfg.to_dict() and old["complete"]:
            _log(f"{exp_id}/{profile}/seed{seed}: reusing {out_path}")
            return old

    dev = torch.device(device) if device is not None else default_device()
    torch.manual_seed(seed)
    dataset = data_mod.load(cfg.data.dataset, dev)
    origin = provenance(dev, dataset.hashes)  # taken now: the code that trains is the code at the start
    generator = torch.Generator(dev).manual_seed(seed)
    trainer: Trainer = TRAINERS[cfg.method](cfg, dataset, generator)

    ckpt = checkpoint_path(exp_id, profile, seed, checkpoint_dir)
    history: list[dict[str, Any]] = []
    elapsed = 0.0
    if ckpt.exists() and not fresh:
        state = torch.load(ckpt, map_location=dev, weights_only=False)
        if state["config"] == cfg.to_dict():
            trainer.load_state_dict(state["trainer"])
            generator.set_state(state["generator"].to(generator.get_state().device))
            history, elapsed = state["history"], state["elapsed_s"]
            _log(f"{exp_id}/{profile}/seed{seed}: resuming after epoch {len(history)} from {ckpt}")
        else:
            _log(f"{exp_id}/{profile}/seed{seed}: checkpoint {ckpt} has another config; starting afresh")

    started = time.time()
    epochs = cfg.optim.epochs
    start_epoch = len(history) + 1
    for epoch in range(start_epoch, epochs + 1):
        if stop_after_epochs is not None and epoch > stop_after_epochs:  # 0: evaluate the checkpoint as it is
            _log(f"stopping before epoch {epoch} (--stop-after-epochs {stop_after_epochs}); rerun without it to resume")
            break
        t0 = time.time()
        bar = tqdm(total=trainer.batches(), desc=f"{exp_id} {profile} epoch {epoch}/{epochs}", disable=not progress, leave=False, mininterval=2)
        metrics = trainer.train_epoch(epoch, bar)
        bar.close()
        metrics["epoch"] = epoch
        metrics["seconds"] = time.time() - t0
        history.append(metrics)
        elapsed += metrics["seconds"]
        buf = io.BytesIO()
        torch.save(
            {"config": cfg.to_dict(), "trainer": trainer.state_dict(), "generator": generator.get_state(), "history": history, "elapsed_s": elapsed},
            buf,
        )
        atomic_write_bytes(ckpt, buf.getvalue())
        summary = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, float))
        _log(f"{exp_id}/{profile}/seed{seed} epoch {epoch}/{epochs}: {summary}")
        out_of_time = time_budget_s is not None and time.time() - started + metrics["seconds"] > time_budget_s
        if epoch < epochs and out_of_time:
            _log(f"out of time after epoch {epoch}; rerun the same command to resume")
            break

    t0 = time.time()
    final = trainer.evaluate()
    eval_s = time.time() - t0
    result = {
        "schema_version": SCHEMA_VERSION,
        "experiment": exp_id,
        "profile": profile,
        "seed": seed,
        "complete": len(history) == epochs,
        "epochs_done": len(history),
        "config": cfg.to_dict(),
        "final": final,
        "history": history,
        "extras": trainer.extras(),
        "wall_time_s": {"train": elapsed, "evaluate": eval_s},
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "provenance": origin,
    }
    write_result(out_path, result)
    _log(f"{exp_id}/{profile}/seed{seed}: wrote {out_path} ({'complete' if result['complete'] else 'PARTIAL'}): {final['test']}")
    return result
