"""What every training method shares: the runner's interface, data order, splits, FF bookkeeping."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ffrepro.config import RunConfig
from ffrepro.data import Dataset, Split, jitter
from ffrepro.ff import FF_STATS, FFLayer, FFNet
from ffrepro.local import LocallyConnected
from ffrepro.optim import SmoothedSGD
from ffrepro.weights import pack_weights

EVAL_CHUNK = 1000  # rows per evaluation forward pass
GOODNESS_SAMPLE = 500  # validation examples whose per-layer goodness is saved for the book
PROBE = 200  # validation examples whose goodness :class:`PhaseTracer` follows through day and night


def error_rate(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Percentage of wrong predictions."""
    return 100.0 * (pred != y).float().mean().item()


class Trainer:
    """Base of the methods the runner drives: ``train_epoch`` and ``evaluate`` are theirs."""

    net: nn.Module
    optimizer: torch.optim.Optimizer

    def __init__(self, cfg: RunConfig, data: Dataset, generator: torch.Generator):
        self.cfg, self.data, self.gen = cfg, data, generator
        self.train_split = data.train.head(cfg.data.train_examples)

    def epoch_examples(self) -> int:
        """Training examples one epoch shows: the training split, ``data.jitter_passes`` times."""
        return len(self.train_split) * self.cfg.data.jitter_passes

    def batches(self) -> int:
        return -(-self.epoch_examples() // self.cfg.data.batch_size)

    def minibatches(self) -> list[torch.Tensor]:
        """This epoch's shuffled minibatch indices (the generator's state makes resuming exact):
        one random permutation of the training split per pass."""
        n = len(self.train_split)
        perm = torch.cat([torch.randperm(n, generator=self.gen, device=self.train_split.y.device) for _ in range(self.cfg.data.jitter_passes)])
        return list(perm.split(self.cfg.data.batch_size))

    def updates(self) -> list[tuple[str, torch.Tensor]]:
        """This epoch's updates in order, each (phase, minibatch indices), phase "both" (positive and
        negative data in one update), "positive" or "negative": see :func:`phase_plan`."""
        batches = self.minibatches()
        model = self.cfg.model
        plan = phase_plan(len(batches), getattr(model, "schedule", "interleaved"), getattr(model, "phase_length", 1))
        return [(phase, batches[i]) for phase, i in plan]

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and labels of one minibatch; with ``data.jitter`` each image gets its own random shift,
        drawn on the device for the whole batch at once. idx: (B,) -> ((B, D), (B,))"""
        x = self.train_split.x[idx]
        if self.cfg.data.jitter:
            x = jitter(x, self.cfg.data.jitter, self.gen)
        return x, self.train_split.y[idx]

    def probe(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed positive and negative inputs from the validation split, for :class:`PhaseTracer`."""
        raise NotImplementedError

    def phase_tracer(self, epoch: int, updates: list[tuple[str, torch.Tensor]]) -> "PhaseTracer | None":
        """A :class:`PhaseTracer` over the first epoch of a phased schedule; None otherwise."""
        if epoch != 1 or getattr(self.cfg.model, "schedule", "interleaved") != "phases":
            return None
        return PhaseTracer(self, [phase for phase, _ in updates])

    @staticmethod
    def schedule_log(updates: list[tuple[str, torch.Tensor]], tracer: "PhaseTracer | None") -> dict[str, Any]:
        """What an epoch's schedule showed the FF losses: positive and negative examples (a "both"
        update counts its minibatch as both), and the phase trace where one was kept."""
        log: dict[str, Any] = {
            "positive_examples": sum(len(idx) for phase, idx in updates if phase != "negative"),
            "negative_examples": sum(len(idx) for phase, idx in updates if phase != "positive"),
        }
        if tracer is not None:
            log["phase_trace"] = tracer.trace
        return log

    def eval_splits(self) -> dict[str, Split]:
        """Train (its first 10k images, as ffcode estimates it), validation and test."""
        n = self.cfg.data.eval_examples
        return {"train": self.train_split.head(n or len(self.data.val)), "val": self.data.val.head(n), "test": self.data.test.head(n)}

    def train_epoch(self, epoch: int, progress: Any = None) -> dict[str, Any]:
        raise NotImplementedError

    def evaluate(self) -> dict[str, dict[str, float]]:
        raise NotImplementedError

    def extras(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])


def ff_optimizer(net: FFNet, cfg: RunConfig, with_readout: bool) -> SmoothedSGD:
    """ffcode's groups: decayed weights, undecayed biases, and (optionally) the softmax readout."""
    o = cfg.optim
    groups = [
        dict(params=[layer.linear.weight for layer in net.layers], lr=o.lr, weight_decay=o.weight_decay),
        dict(params=[layer.linear.bias for layer in net.layers], lr=o.lr, weight_decay=0.0),
    ]
    if with_readout:
        groups.append(dict(params=list(net.readout.parameters()), lr=o.readout_lr, weight_decay=o.readout_weight_decay))
    return SmoothedSGD(groups, lr=o.lr, smoothing=o.smoothing)


def phase_plan(batches: int, schedule: str, phase_length: int) -> list[tuple[str, int]]:
    """The order of one epoch's updates over minibatches 0..batches-1 (paper section 5).

    "interleaved": [("both", 0), ("both", 1), ...]. "phases": blocks of ``phase_length``
    minibatches, each block first as positive-only updates, then again as negative-only updates:
    [("positive", 0), ..., ("positive", K-1), ("negative", 0), ..., ("negative", K-1), ("positive", K),
    ...]; the last block may be shorter. "positive_only": [("positive", 0), ("positive", 1), ...].
    """
    if schedule == "interleaved":
        return [("both", i) for i in range(batches)]
    if schedule == "positive_only":
        return [("positive", i) for i in range(batches)]
    if schedule != "phases":
        raise ValueError(f"unknown schedule {schedule!r}")
    plan: list[tuple[str, int]] = []
    for start in range(0, batches, phase_length):
        block = range(start, min(start + phase_length, batches))
        plan += [("positive", i) for i in block] + [("negative", i) for i in block]
    return plan


class PhaseTracer:
    """Per-layer mean goodness of a fixed probe of positive and negative validation data before the
    first update and at the end of each of the first ``max_phases`` phases of an epoch (schedule
    "phases"): what each day and night does to the margin around the threshold. Positive: the true
    label embedded (supervised) or the image (unsupervised); negative: a fixed wrong label, or a fixed
    hybrid (:meth:`Trainer.probe`)."""

    def __init__(self, trainer: "Trainer", phases: list[str], max_phases: int = 12):
        self.trainer, self.phases, self.max_phases = trainer, phases, max_phases
        self.positive, self.negative = trainer.probe()
        self.trace: dict[str, list[Any]] = {"update": [], "phase": [], "positive": [], "negative": []}
        self._record(0, "start")

    def records_after(self, step: int) -> bool:
        """Whether :meth:`after` records after update ``step``: it ended one of the first ``max_phases`` phases."""
        ended = step + 1 == len(self.phases) or self.phases[step + 1] != self.phases[step]
        return ended and len(self.trace["update"]) <= self.max_phases

    def after(self, step: int) -> None:
        """Call after update ``step`` (0-based); records if it ended a phase."""
        if self.records_after(step):
            self._record(step + 1, self.phases[step])

    def _record(self, updates: int, phase: str) -> None:
        net = self.trainer.net
        with torch.no_grad():
            for kind, x in (("positive", self.positive), ("negative", self.negative)):
                self.trace[kind].append([round(FFLayer.goodness(h).mean().item(), 2) for _, h in net.forward(x)])
        self.trace["update"].append(updates)  # updates made so far
        self.trace["phase"].append(phase)  # the phase that just ended


def ff_stats(stats: torch.Tensor, examples: int) -> dict[str, list[float]]:
    """Per-example means of an epoch's summed :func:`ffrepro.ff.ff_stats_row` statistics, per layer, keyed by :data:`FF_STATS`."""
    return dict(zip(FF_STATS, (stats / examples).tolist()))


@torch.no_grad()
def goodness_sample(net: FFNet, positive: torch.Tensor, negative: torch.Tensor) -> dict[str, Any]:
    """Per-layer goodness of some positive and negative inputs, and the thresholds, for the book."""
    sample = {
        kind: [[round(v, 2) for v in FFLayer.goodness(h).tolist()] for _, h in net.forward(x)]
        for kind, x in (("positive", positive), ("negative", negative))
    }
    return {"goodness_sample": sample, "threshold": [layer.threshold for layer in net.layers]}


def first_layer_fields(net: FFNet, per_location: int = 6, dense_units: int = 16) -> dict[str, Any]:
    """A few first-layer weight vectors, as images, for the book's receptive-field pictures.

    Locally connected: ``per_location`` channels at every grid location, each a window x window
    patch placed at its location. Dense: the first ``dense_units`` units, each a full image.
    -> {"side", "fields": [[side*side floats]], "location": [grid index or -1]}
    """
    layer = net.layers[0].linear
    side = int(round(layer.weight.shape[-1] ** 0.5)) if isinstance(layer, torch.nn.Linear) else 28
    fields, where = [], []
    with torch.no_grad():
        if isinstance(layer, torch.nn.Linear):
            for w in layer.weight[:dense_units]:
                fields.append(w.tolist())
                where.append(-1)
        else:
            spec = layer.spec
            for loc in range(spec.grid * spec.grid):
                mask = layer.receptive_field(loc)[0].flatten()
                for ch in range(min(per_location, spec.channels)):
                    img = torch.zeros(side * side)
                    img[mask] = layer.weight[loc, :, ch].cpu()
                    fields.append(img.tolist())
                    where.append(loc)
    return {"side": side, "fields": [[round(v, 4) for v in f] for f in fields], "location": where}


FIELD_GRID = (4, 12, 20, 28)  # rows and columns of the first-layer locations whose fields results keep


def local_fields(layer: LocallyConnected, grid: tuple[int, ...] = FIELD_GRID) -> dict[str, Any]:
    """The bottom-up weights of a few locations of a locally connected layer, every channel, for the
    book's receptive-field figure: rows (location, channel) of window x window x C_in weights,
    channel-major like the input. -> {"locations", "window", "in_channels", "weights": pack_weights(...),
    and where the windows lie on the input: "grid", "stride", "padding", "in_side"}"""
    s = layer.spec
    locations = [r * s.grid + c for r in grid for c in grid if r < s.grid and c < s.grid]
    w = layer.weight[locations].permute(0, 2, 1).reshape(len(locations) * s.channels, -1)  # (locations x C_out, F)
    return {"locations": locations, "window": s.window, "in_channels": layer.in_shape[0], "weights": pack_weights(w),
            "grid": s.grid, "stride": s.stride, "padding": s.padding, "in_side": layer.in_shape[1]}
