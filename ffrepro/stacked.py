"""Seeds trained as one stacked model: the plumbing (issue 12, part 2; issue 28).

An FF update here is written for stacked seeds: every parameter of S seeds in one (S, ...) tensor, so
each product of an update is one batched product for all of them, and the gradients written out
without building a graph (a short, fixed sequence of kernels with no transfer to the host, which is
what a GPU needs at the paper's minibatch of 100). One seed is a stack of one: supervised, unsupervised
and recurrent FF train every run through :class:`StackedFF`, whose maths is their modules'
(:mod:`ffrepro.ff`'s passes, :class:`ffrepro.supervised.StackedFFSupervised`,
:class:`ffrepro.unsupervised.StackedFFUnsupervised`, :class:`ffrepro.recurrent.StackedFFRecurrent`).
This module holds none of it: it moves the state between the seeds' one-seed trainers and the stack,
makes the weights the products take (a locally connected map's dense or tiles' matrices) and takes
their gradients back, runs an epoch's updates and takes the optimiser step
(:func:`ffrepro.optim.smoothed_step`). Backprop trains every run through :class:`StackedBP` too, by
autograd through the stacked weights.

Each seed keeps what makes it that seed: its initial weights (made by its one-seed trainer under its
own ``torch.manual_seed``) and its data order, shifts, wrong labels or hybrid masks, drawn from its own
generator in the order the one-seed trainer draws them. So seed s of a stacked run computes what a
run of seed s alone computes, up to float rounding (``tests/test_stacked.py`` checks it), and leaves
the same checkpoints and results: the stacked model is made from the seeds' one-seed trainers at the
start of every epoch and written back into them at its end, and everything else (validation,
evaluation, extras, checkpoints) stays theirs.

Everything stacks: FF of every kind (any schedule, dense layers in fp32 or bf16, locally connected maps
as dense matrices or, in recurrent FF, by tiles where the map computes so, a black box, which then
quantises all the seeds' rows in one call), and backprop with Adam or smoothed SGD (its maps as their
modules compute them). With ``FFREPRO_COMPILE=1`` (:mod:`ffrepro.compiled`) the optimiser step and the
FF update's passes are compiled (not those with a black box: numpy cannot be compiled; in the recurrent
update, each layer's loss and gradient at each step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from ffrepro.compiled import Compiled
from ffrepro.config import RunConfig
from ffrepro.ff import FF_STATS, Bf16Linear, Box
from ffrepro.local import LocallyConnected
from ffrepro.optim import lr_gain, set_gain, smoothed_step
from ffrepro.trainer import Trainer, ff_stats

def _shared_config(trainers: list[Any]) -> RunConfig:
    """The one config of one-seed ``trainers``, or a ValueError if they differ."""
    cfg = trainers[0].cfg
    if any(t.cfg != cfg for t in trainers):
        raise ValueError("stacked seeds must share one config")
    return cfg


class StackedFF:
    """The one-seed trainers ``trainers`` (same config, each with its own generator) trained together.
    Between epochs their state is theirs; during one it is stacked here (:meth:`train_epoch`)."""

    logs_schedule = True  # whether the one-seed trainer's epochs log their schedule (Trainer.schedule_log)

    def __init__(self, trainers: list[Any]):
        self.trainers, self.cfg = trainers, _shared_config(trainers)
        self.layers = list(trainers[0].net.layers)
        # each optimiser parameter that is a locally connected map's compact weight or bias: (map, "weight" or "bias")
        owner = {id(getattr(m, name)): (m, name) for m in trainers[0].net.modules() if isinstance(m, LocallyConnected) for name in ("weight", "bias")}
        self.local = [[owner.get(id(p)) for p in group] for group in self._groups(trainers[0])]
        self.product: list[list[torch.Tensor]] = []  # the parameters as the passes use them (_product_params), made before each update
        self.layer_constants = tuple((layer.threshold, layer.sign, layer.peer_normalization, layer.peer_momentum) for layer in self.layers)
        box_after, box = getattr(self.cfg.model, "black_box_after", 0), getattr(trainers[0].net, "box", None)
        if box is not None and any(not torch.equal(t.net.box.step, box.step) for t in trainers):
            raise ValueError("stacked seeds must share one black box")
        self.box: Box | None = (box_after, box) if box is not None else None  # applied to all the seeds' rows at once
        # each layer's products in bf16 (model.precision "bf16": its dense layers, not its locally connected maps)
        self.bf16 = tuple(isinstance(layer.linear, Bf16Linear) for layer in self.layers)

    # --- the stacked state: made from the one-seed trainers, written back into them ---------------
    @staticmethod
    def _groups(trainer: Trainer) -> list[list[torch.Tensor]]:
        """A trainer's parameters in its optimiser's groups (weights, biases and, supervised, the readout)."""
        return [list(group["params"]) for group in trainer.optimizer.param_groups]

    def _stack(self) -> None:
        """The seeds' parameters, smoothed gradients and running means, each stacked along a new first axis."""
        per_seed = [self._groups(t) for t in self.trainers]  # [seed][group][parameter]
        sizes = [len(group) for group in per_seed[0]]
        self.params = [[torch.stack([ps[g][i].detach() for ps in per_seed]) for i in range(k)] for g, k in enumerate(sizes)]
        self.smoothed = [[torch.stack([self._smoothed(t, ps[g][i]) for t, ps in zip(self.trainers, per_seed)]) for i in range(k)] for g, k in enumerate(sizes)]
        self.mean_activity = [torch.stack([t.net.layers[i].mean_activity for t in self.trainers]) for i in range(len(self.layers))]

    # --- locally connected maps: compact parameters, dense or tiled products ------------------------
    def tiled(self, owner: tuple[LocallyConnected, str] | None) -> bool:
        """Whether a parameter is a locally connected map's weight multiplied here by tiles: where the map
        computes so (:func:`ffrepro.local.computation_for`) and :attr:`tiles_products` allows; else by its dense matrix."""
        return owner is not None and owner[1] == "weight" and self.tiles_products and owner[0].computation == "tiles"

    tiles_products = False  # whether this update multiplies by tiles (recurrent FF's does; the feed-forward passes take dense matrices)

    def _product_params(self) -> list[list[torch.Tensor]]:
        """The stacked parameters as the passes use them: a locally connected map's compact weight (S, L, F, C)
        scattered into its dense (S, out, in) matrix or its tiles' block matrices (:meth:`tiled`), its bias
        (S, L, C) flattened channel-major to (S, out), as :meth:`ffrepro.local.LocallyConnected.forward`
        adds it; every other parameter as it is."""
        out = []
        for params, local in zip(self.params, self.local):
            group = []
            for p, owner in zip(params, local):
                if owner is None:
                    group.append(p)
                elif owner[1] == "bias":
                    group.append(p.transpose(1, 2).flatten(1))
                else:
                    group.append(owner[0].scatter_tiles(p) if self.tiled(owner) else owner[0].scatter_dense(p))
            out.append(group)
        return out

    def _compact_grads(self, grads: list[list[torch.Tensor] | None]) -> list[list[torch.Tensor] | None]:
        """The gradients of :meth:`_product_params`' matrices and biases, taken back to the compact
        parameters (:meth:`ffrepro.local.LocallyConnected.compact_gradient`)."""
        out: list[list[torch.Tensor] | None] = []
        for g, params, local in zip(grads, self.params, self.local):
            if g is None or not any(local):
                out.append(g)
                continue
            group = []
            for grad, p, owner in zip(g, params, local):
                if owner is None:
                    group.append(grad)
                elif owner[1] == "bias":
                    group.append(grad.view(p.shape[0], p.shape[2], p.shape[1]).transpose(1, 2).contiguous())
                else:
                    group.append(owner[0].compact_gradient(grad, self.tiled(owner)))
            out.append(group)
        return out

    @staticmethod
    def _smoothed(trainer: Trainer, p: torch.Tensor) -> torch.Tensor:
        state = trainer.optimizer.state.get(p, {})
        return state["smoothed"] if "smoothed" in state else torch.zeros_like(p)

    def _unstack(self) -> None:
        """Each seed's slice of the stacked state, written back into its one-seed trainer."""
        with torch.no_grad():
            for s, trainer in enumerate(self.trainers):
                for g, group in enumerate(self._groups(trainer)):
                    for i, p in enumerate(group):
                        p.copy_(self.params[g][i][s])
                        trainer.optimizer.state[p]["smoothed"] = self.smoothed[g][i][s].clone()
                for i, layer in enumerate(trainer.net.layers):
                    layer.mean_activity.copy_(self.mean_activity[i][s])

    # --- one epoch ----------------------------------------------------------------------------------
    def train_epoch(self, epoch: int, progress: Any = None) -> list[dict[str, Any]]:
        """One epoch of every seed; returns each seed's metrics, as its one-seed trainer's ``train_epoch``
        would (the same keys; anything measured after the epoch, by that trainer's own net)."""
        cfg, trainers = self.cfg, self.trainers
        gain = lr_gain(epoch, cfg.optim.epochs)
        for t in trainers:
            set_gain(t.optimizer, gain)  # what the step uses, and what their checkpoints record
        self._stack()
        groups = trainers[0].optimizer.param_groups  # learning rate, weight decay and smoothing of each group
        plans = [t.updates() for t in trainers]  # each from its own generator
        device = trainers[0].train_split.y.device
        stats = torch.zeros(len(trainers), len(FF_STATS), len(self.layers), device=device)
        tracers = [t.phase_tracer(epoch, plan) for t, plan in zip(trainers, plans)]  # phased schedules' first epoch
        self.start_epoch()
        for step in range(len(plans[0])):
            phase = plans[0][step][0]  # the same schedule for every seed
            batches = [t.batch(plan[step][1]) for t, plan in zip(trainers, plans)]  # shifted first, as one seed's trainer does
            x, y = torch.stack([b[0] for b in batches]), torch.stack([b[1] for b in batches])
            stats += self.update(x, y, phase, groups)
            if tracers[0] is not None and tracers[0].records_after(step):  # the tracer reads each seed's own net
                self._unstack()
                for tracer in tracers:
                    tracer.after(step)
            if progress is not None:
                progress.update(1)
        self._unstack()
        examples = trainers[0].epoch_examples()
        return [{**ff_stats(stats[s], examples), **self.end_epoch(s), **(Trainer.schedule_log(plan, tracer) if self.logs_schedule else {})}
                for s, (plan, tracer) in enumerate(zip(plans, tracers))]

    def start_epoch(self) -> None:
        """Reset what :meth:`_update` accumulates over an epoch besides the FF statistics."""

    def end_epoch(self, seed_index: int) -> dict[str, Any]:
        """The method's own metrics of one seed after an epoch (its trainer holds the new weights)."""
        return {}

    def update(self, x: torch.Tensor, y: torch.Tensor, phase: str, groups: list[dict[str, Any]]) -> torch.Tensor:
        """One update of every seed on the stacked state (:meth:`_update` on the parameters as the passes use
        them, then :meth:`_step`); its FF statistics (S, len(FF_STATS), layers). x: (S, B, D), y: (S, B)"""
        self.product = self._product_params()
        return self._step(self._update(x, y, phase), groups)

    def run_pass(self, compiled: Compiled) -> Callable[..., Any]:
        """A pass of the update as it runs here: compiled where ``FFREPRO_COMPILE=1`` asks, or as it is with a
        black box, which runs numpy between layers that a compiled graph cannot hold."""
        return compiled.fn if self.box is not None else compiled

    def product_weights(self) -> list[torch.Tensor]:
        """The layers' weights (:meth:`_product_params`) as their products take them: cast to bfloat16 once per
        update where the layer's products are bf16 (:attr:`bf16`), else as they are."""
        return [w.to(torch.bfloat16) if bf16 else w for w, bf16 in zip(self.product[0], self.bf16)]

    def _update(self, x: torch.Tensor, y: torch.Tensor, phase: str) -> tuple[list[list[torch.Tensor] | None], torch.Tensor]:
        """One update of every seed in ``phase`` ("both", "positive" or "negative": :func:`ffrepro.trainer.phase_plan`):
        gradients in the optimiser's groups (None: a group this update does not train), and the FF
        statistics (S, len(FF_STATS), layers). x: (S, B, D), y: (S, B)"""
        raise NotImplementedError

    def _step(self, update: tuple[list[list[torch.Tensor] | None], torch.Tensor], groups: list[dict[str, Any]]) -> torch.Tensor:
        """:func:`ffrepro.optim.smoothed_step`, group by group, on the stacked tensors (a group
        without gradients is left alone, as SmoothedSGD leaves parameters without one); passes the
        update's statistics on."""
        grads, stats = update
        for params, smoothed, g, group in zip(self.params, self.smoothed, self._compact_grads(grads), groups):
            if g is not None:
                smoothed_step(params, smoothed, g, group["lr"], group["smoothing"], group["weight_decay"])
        return stats


class StackedBP:
    """The backprop baseline's update (:class:`ffrepro.bp.BPTrainer`), for one seed or stacked seeds: each linear
    layer's weights of all seeds in one (S, out, in) tensor, a locally connected map's compact weights
    scattered into its dense matrix or its tiles' block matrices as its module computes (differentiably:
    autograd takes the gradients back), the seeds' losses summed (each seed's parameters get exactly its own
    gradient), and one optimiser of the trainer's kind (Adam or smoothed SGD) over the stacked tensors, whose
    update is element by element, so each seed's is the one its own would make. Between epochs the
    parameters and the optimiser's state are the one-seed trainers', as in :class:`StackedFF`."""

    def __init__(self, trainers: list[Any]):
        self.trainers, self.cfg = trainers, _shared_config(trainers)
        self.modules = list(trainers[0].net)  # the layers in order; the ReLUs and the black box are used as they are

    def _stack(self) -> None:
        per_seed = [list(t.net.parameters()) for t in self.trainers]
        self.params = [torch.stack([ps[i].detach() for ps in per_seed]).requires_grad_(True) for i in range(len(per_seed[0]))]
        optimizer = self.trainers[0].optimizer
        group = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}  # lr after the epoch's gain
        self.optimizer = type(optimizer)([{**group, "params": self.params}], lr=group["lr"])
        states = [[t.optimizer.state.get(p, {}) for p in ps] for t, ps in zip(self.trainers, per_seed)]
        for i, p in enumerate(self.params):
            if states[0][i]:  # after the first step: the stacked state (Adam's step count all seeds share)
                self.optimizer.state[p] = {k: v.clone() if k == "step" else torch.stack([st[i][k] for st in states]) for k, v in states[0][i].items()}

    def _unstack(self) -> None:
        with torch.no_grad():
            for s, t in enumerate(self.trainers):
                for p, stacked in zip(t.net.parameters(), self.params):
                    p.copy_(stacked[s])
                    state = self.optimizer.state.get(stacked, {})
                    if state:
                        t.optimizer.state[p] = {k: v.clone() if k == "step" else v[s].clone() for k, v in state.items()}

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """:func:`ffrepro.bp.mlp`'s forward pass for every seed. x: (S, B, D) -> logits (S, B, 10)"""
        params = iter(self.params)
        h = x
        for module in self.modules:
            if isinstance(module, torch.nn.Linear):
                w, b = next(params), next(params)
                h = _affine(h, w, b)
            elif isinstance(module, LocallyConnected):  # each seed's compact weights in the matrices its module multiplies by
                w, b = next(params), next(params)
                if module.computation == "tiles":
                    h = torch.stack([module.tiles_product(h[s], module.scatter_tiles(w[s]), module.bias_map(b[s])) for s in range(len(w))])
                else:
                    h = _affine(h, module.scatter_dense(w), b.transpose(1, 2).flatten(1))
            else:
                h = module(h)
        return h

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each seed's mean cross-entropy on its minibatch, differentiable in the stacked parameters. x: (S, B, D), y: (S, B) -> (S,)"""
        logits = self._forward(x)
        return F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(1)

    def train_epoch(self, epoch: int, progress: Any = None) -> list[dict[str, Any]]:
        """One epoch of every seed, with :class:`ffrepro.bp.BPTrainer`'s data order; each seed's metrics."""
        trainers, gain = self.trainers, lr_gain(epoch, self.cfg.optim.epochs)
        for t in trainers:
            set_gain(t.optimizer, gain)
        self._stack()
        plans = [t.minibatches() for t in trainers]
        total = torch.zeros(len(trainers), device=trainers[0].train_split.y.device)
        for step in range(len(plans[0])):
            batches = [t.batch(plan[step]) for t, plan in zip(trainers, plans)]
            x, y = torch.stack([b[0] for b in batches]), torch.stack([b[1] for b in batches])
            loss = self.loss(x, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            self.optimizer.step()
            total += loss.detach() * y.shape[1]
            if progress is not None:
                progress.update(1)
        self._unstack()
        return [t.epoch_log(total[s]) for s, t in enumerate(trainers)]


def _affine(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``h @ w.T + b`` of every seed, differentiably. h: (S, B, in), w: (S, out, in), b: (S, out) -> (S, B, out). On a
    CPU one product per seed (as :func:`ffrepro.ff.matmul`): its batched product splits its threads over the
    seeds, and a stack of one then ran on one thread (backprop on MNIST 27 % slower a minibatch, measured)."""
    if h.device.type == "cpu":
        return torch.stack([torch.addmm(b[s], h[s], w[s].mT) for s in range(len(w))])
    return torch.baddbmm(b[:, None, :], h, w.mT)
