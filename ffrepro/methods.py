"""The training methods as records: each method's model config, its trainer (one seed), its stacked
trainer (several seeds as one model) and its training FLOPs, declared once. The runner, the stacked
runs, the cost model and the reading of results files dispatch through :data:`METHODS`.

A new method is a record here, its config dataclass in :mod:`ffrepro.config` (and its name in
``config.Method``), its trainer and its stacked trainer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from ffrepro import bp, recurrent
from ffrepro.bp import BPTrainer
from ffrepro.config import BPConfig, FFConfig, Method, RecurrentFFConfig, RunConfig, UnsupervisedFFConfig
from ffrepro.cost import ff_flops
from ffrepro.recurrent import FFRecurrentTrainer, StackedFFRecurrent
from ffrepro.results import bf16_native, cpu_bf16_units
from ffrepro.stacked import StackedBP, StackedFF
from ffrepro.supervised import FFSupervisedTrainer, StackedFFSupervised
from ffrepro.trainer import Trainer
from ffrepro.unsupervised import FFUnsupervisedTrainer, StackedFFUnsupervised


Bf16Status = Literal["validated", "implemented", "none"]


@dataclass(frozen=True)
class MethodRecord:
    """One training method: ``name`` (a run config's ``method``), the class of its ``model`` config, the
    trainer of one seed, the trainer of several stacked seeds, and ``flops(n_in, model)``: its analytic
    training FLOPs per example (2 per multiply-add of the layers' products)."""

    name: Method
    model: type
    trainer: type[Trainer]
    stacked: type[StackedFF] | type[StackedBP]
    flops: Callable[[int, Any], float]
    # bf16 products (model.precision "bf16", dense layers): "validated" (fp32 and bf16 seeds at the cpu
    # profile within the seeds' spread, shown in the book: paper runs may use it), "implemented" (not
    # yet validated: variants only), "none"
    bf16: Bf16Status = "none"
    # the (entry, variant) whose cpu-profile seeds validate bf16 against the entry's fp32 seeds
    # (ffrepro.figures.common.precision_validation); a test holds "validated" to them
    bf16_validation: tuple[str, str] | None = None


METHODS: dict[str, MethodRecord] = {m.name: m for m in (
    MethodRecord("ff-supervised", FFConfig, FFSupervisedTrainer, StackedFFSupervised, lambda n_in, model: ff_flops(n_in, model, supervised=True),
                 bf16="validated", bf16_validation=("mnist-ff-hard-negatives", "bf16")),  # issue 12
    MethodRecord("ff-unsupervised", UnsupervisedFFConfig, FFUnsupervisedTrainer, StackedFFUnsupervised, lambda n_in, model: ff_flops(n_in, model, supervised=False),
                 bf16="validated", bf16_validation=("mnist-ff-unsupervised", "bf16")),  # issue 29
    MethodRecord("ff-recurrent", RecurrentFFConfig, FFRecurrentTrainer, StackedFFRecurrent, lambda n_in, model: recurrent.flops(n_in, model)["train"],
                 bf16="validated", bf16_validation=("mnist-ff-recurrent-2layers", "bf16")),  # issue 29
    MethodRecord("bp", BPConfig, BPTrainer, StackedBP, lambda n_in, model: bp.flops(n_in, model)["train"]),
)}


def stacked_trainer(trainers: list[Any]) -> StackedFF | StackedBP:
    """The stacked trainer of one-seed ``trainers``' method."""
    return METHODS[trainers[0].cfg.method].stacked(trainers)


def run_precision(cfg: RunConfig, device: torch.device) -> tuple[str, str | None]:
    """What a config's products run in on ``device`` ("fp32" or "bf16"), and why where it was chosen:
    ``model.precision = "auto"`` takes bf16 only where the method's bf16 is validated (:data:`METHODS`),
    its layers are dense, and the device has bf16 units (:func:`ffrepro.results.bf16_native`: without
    them bf16 is emulated at fp32 speed, so it gains nothing); otherwise fp32. Any other value runs as asked (None)."""
    asked = getattr(cfg.model, "precision", "fp32")
    if asked != "auto":
        return asked, None
    where = "GPU" if device.type == "cuda" else "CPU"
    if getattr(cfg.model, "local", ()):
        return "fp32", "auto: fp32, locally connected maps have no bf16 products"
    status = METHODS[cfg.method].bf16
    if status != "validated":
        return "fp32", f"auto: fp32, {cfg.method}'s bf16 products are {'not validated yet' if status == 'implemented' else 'not implemented'}"
    if not bf16_native(device):
        return "fp32", f"auto: fp32, this {where} has no bf16 units (bf16 would be emulated, at fp32 speed)"
    return "bf16", f"auto: bf16, {cfg.method}'s bf16 products are validated and this {where} has bf16 units ({'tensor cores' if device.type == 'cuda' else ', '.join(cpu_bf16_units())})"


def as_run(cfg: RunConfig, precision: str) -> RunConfig:
    """``cfg`` with ``model.precision`` as it runs (:func:`run_precision`): what its trainer is built from."""
    if getattr(cfg.model, "precision", precision) == precision:
        return cfg
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, precision=precision))
