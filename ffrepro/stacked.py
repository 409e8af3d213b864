"""Seeds trained as one stacked model: the plumbing (issue 12, part 2; issue 28).

An FF update here is written for stacked seeds: every parameter of S seeds in one (S, ...) tensor, so
each product of an update is one batched product for all of them, and the gradients written out
without building a graph (a short, fixed sequence of kernels with no transfer to the host, which is
what a GPU needs at the paper's minibatch of 100). One seed is a stack of one: supervised and
unsupervised FF train every run through :class:`StackedFF`, whose maths is their modules'
(:mod:`ffrepro.ff`'s passes, :class:`ffrepro.supervised.StackedFFSupervised`,
:class:`ffrepro.unsupervised.StackedFFUnsupervised`). This module holds none of it: it moves the state
between the seeds' one-seed trainers and the stack, runs an epoch's updates and takes the optimiser
step (:func:`ffrepro.optim.smoothed_step`). Recurrent FF (:class:`StackedFFRecurrent`, with
:func:`ffrepro.recurrent.dynamics`) and backprop with Adam (:class:`StackedBP`) are the two methods whose
one seed still trains through its own module as well (issue 28 leaves them for a later part).

Each seed keeps what makes it that seed: its initial weights (made by its one-seed trainer under its
own ``torch.manual_seed``) and its data order, shifts, wrong labels or hybrid masks, drawn from its own
generator in the order the one-seed trainer draws them. So seed s of a stacked run computes what a
run of seed s alone computes, up to float rounding (``tests/test_stacked.py`` checks it), and leaves
the same checkpoints and results: the stacked model is made from the seeds' one-seed trainers at the
start of every epoch and written back into them at its end, and everything else (validation,
evaluation, extras, checkpoints) stays theirs.

What stacks is :func:`stackable`'s: supervised and unsupervised FF of every kind (any schedule, dense
layers in fp32 or bf16, locally connected maps as dense matrices:
:meth:`ffrepro.local.LocallyConnected.scatter_dense`, a black box, which then quantises all the seeds'
rows in one call); recurrent FF and backprop with Adam with float32 products (TF32 on a GPU where
``FFREPRO_TF32=1``) and locally connected maps within :data:`ffrepro.local.DENSE_MAX_RATIO`. Anything
else is refused with the reason; the runner then runs those seeds one at a time. With
``FFREPRO_COMPILE=1`` (:mod:`ffrepro.compiled`) the optimiser step and the feed-forward update's passes
are compiled (not those with a black box: numpy cannot be compiled; in the recurrent update, each
layer's loss and gradient at each step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from ffrepro.compiled import Compiled
from ffrepro.cost import local_maps
from ffrepro.config import RunConfig
from ffrepro.data import NUM_CLASSES
from ffrepro.ff import FF_STATS, Bf16Linear, Box, ff_loss, ff_loss_grad, ff_stats_row, length_normalize, matmul, peer_push, wrong_labels
from ffrepro.local import LocallyConnected, computed_dense
from ffrepro.optim import lr_gain, set_gain, smoothed_step
from ffrepro.recurrent import dynamics
from ffrepro.trainer import Trainer, ff_stats

FEED_FORWARD = ("ff-supervised", "ff-unsupervised")  # the methods whose every run trains stacked (one seed: a stack of one)


def stackable(cfg: RunConfig) -> str | None:
    """Why a config's seeds cannot train stacked, or None if they can."""
    if cfg.method in FEED_FORWARD:
        return None
    model = cfg.model
    if cfg.method == "bp" and cfg.optim.algorithm != "adam":
        return f"backprop with {cfg.optim.algorithm!r} (only backprop with Adam stacks)"
    maps = local_maps(cfg)
    if maps and not all(computed_dense(shape, spec) for shape, spec in maps):
        return "locally connected layers too sparse for a dense matrix, computed alone by tiles or copied windows (only maps within ffrepro.local.DENSE_MAX_RATIO stack, as dense matrices)"
    if getattr(model, "precision", "fp32") not in ("fp32", "auto"):  # "auto" stacks where it runs in fp32 (the runner asks again, resolved)
        return f"precision {model.precision!r} (only float32 products stack in {cfg.method})"
    return None


def _shared_config(trainers: list[Any]) -> RunConfig:
    """The one config of one-seed ``trainers`` that can stack, or a ValueError naming why not."""
    cfg = trainers[0].cfg
    reason = stackable(cfg)
    if reason is not None:
        raise ValueError(f"cannot stack seeds of this config: {reason}")
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
        self.dense: list[list[torch.Tensor]] = []  # the parameters as the passes use them (_dense_params), made before each update
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

    # --- locally connected maps: compact parameters, dense products ------------------------------
    def _dense_params(self) -> list[list[torch.Tensor]]:
        """The stacked parameters as the passes use them: a locally connected map's compact weight (S, L, F, C)
        scattered into its dense (S, out, in) matrix and its bias (S, L, C) flattened channel-major to
        (S, out), as :meth:`ffrepro.local.LocallyConnected.forward` multiplies; every other parameter as it is."""
        out = []
        for params, local in zip(self.params, self.local):
            group = []
            for p, owner in zip(params, local):
                if owner is None:
                    group.append(p)
                elif owner[1] == "bias":
                    group.append(p.transpose(1, 2).flatten(1))
                else:
                    group.append(owner[0].scatter_dense(p))
            out.append(group)
        return out

    def _compact_grads(self, grads: list[list[torch.Tensor] | None]) -> list[list[torch.Tensor] | None]:
        """The gradients of :meth:`_dense_params`' matrices and biases, taken back to the compact
        parameters (a weight that sees the zero padding gets none, as through ``index_put``)."""
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
                    padded = F.pad(grad, (0, 1))  # the padding's column: no gradient
                    group.append(padded.flatten(1)[:, owner[0].dense_index.flatten()].view_as(p))
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
        self.dense = self._dense_params()
        return self._step(self._update(x, y, phase), groups)

    def run_pass(self, compiled: Compiled) -> Callable[..., Any]:
        """A pass of the update as it runs here: compiled where ``FFREPRO_COMPILE=1`` asks, or as it is with a
        black box, which runs numpy between layers that a compiled graph cannot hold."""
        return compiled.fn if self.box is not None else compiled

    def product_weights(self) -> list[torch.Tensor]:
        """The layers' weights (:meth:`_dense_params`) as their products take them: cast to bfloat16 once per
        update where the layer's products are bf16 (:attr:`bf16`), else as they are."""
        return [w.to(torch.bfloat16) if bf16 else w for w, bf16 in zip(self.dense[0], self.bf16)]

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


def _video_product(a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """States times stacked weights, over the label axis too. a: (S, K, N, D), w: (S, H, D) -> (S, K, N, H)"""
    s, k, n, d = a.shape
    return matmul(a.reshape(s, k * n, d), w.mT).view(s, k, n, -1)


def _video_grad(dz: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """The weight gradient of :func:`_video_product` from its output's gradient; an input without its own
    label axis (K = 1, broadcast to every label) meets the gradient summed over that axis.
    dz: (S, K, N, H), a: (S, 1 or K, N, D) -> (S, H, D)"""
    if a.shape[1] == 1 and dz.shape[1] != 1:
        dz = dz.sum(1, keepdim=True)
    s = dz.shape[0]
    return matmul((dz.reshape(s, -1, dz.shape[-1])).mT, a.reshape(s, -1, a.shape[-1]))


def _video_loss(z: torch.Tensor, h: torch.Tensor, constants: tuple[float, float, float, float], damping: float, iterations: int,
                mean_activity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer's loss at one step of the positive and negative videos (label axis K = 2): its gradient with
    respect to ``z`` (through the damped ReLU, h = damping x h_old + (1 - damping) x relu(z); the peer term
    on z itself), divided by the ``iterations`` the loss is averaged over, the running mean activity updated
    in place from the positive video, and the statistics (S, len(FF_STATS)) that
    :meth:`ffrepro.recurrent.FFRecurrentTrainer.video_loss` keeps. z, h: (S, 2, N, H) -> (dz (S, 2, N, H), statistics)"""
    threshold, sign, peer_normalization, momentum = constants
    seeds, _, n, width = h.shape
    rows, z_rows = h.reshape(seeds, 2 * n, width), z.reshape(seeds, 2 * n, width)
    push = peer_push(mean_activity, h[:, 0], peer_normalization, momentum) if peer_normalization else None  # (S, H)
    g, ff, peer, coef = ff_loss(z_rows, rows, n, n, threshold, sign, push)
    dz = ff_loss_grad(rows, coef, push, n, n, through=(z_rows > 0) * (1 - damping))
    return dz.div_(iterations).view(seeds, 2, n, width), ff_stats_row(ff, peer, g, n, n)


_compiled_video_loss = Compiled(_video_loss)


class StackedFFRecurrent(StackedFF):
    """Recurrent FF with top-down connections (:class:`ffrepro.recurrent.FFRecurrentTrainer`), stacked: the
    states carry a seeds axis before the label axis, (S, K, N, units), and every layer's gradient of
    its own loss at every loss iteration is written out (its inputs are detached, so the gradient of a
    step reaches only that step's bottom-up and top-down weights and bias, through the damped ReLU)."""

    logs_schedule = False  # the one-seed recurrent trainer's epochs log no schedule

    def start_epoch(self) -> None:
        self.readout_loss = torch.zeros(len(self.trainers), device=self.trainers[0].train_split.y.device)

    def end_epoch(self, seed_index: int) -> dict[str, Any]:
        return self.trainers[seed_index].validation_log(self.readout_loss[seed_index])

    def _label_state(self, labels: torch.Tensor | None, n: int) -> torch.Tensor:
        """:meth:`ffrepro.recurrent.RecurrentFFNet.label_state` with a seeds axis. labels: (S, K, N) -> (S, K, N, 10);
        None: the neutral label -> (S, 1, n, 10)"""
        state = self.trainers[0].net.label_state(labels, n)
        return state if labels is not None else state.expand(len(self.trainers), -1, -1, -1)

    def _states(self, image_term: torch.Tensor, label: torch.Tensor, iterations: int) -> Any:
        """:func:`ffrepro.recurrent.dynamics` of the stacked seeds. image_term: (S, 1, N, units_1), label: (S, K, N, 10)"""
        weights, biases, layers = self.dense[0], self.dense[1], len(self.layers)
        return dynamics(image_term, label, iterations, lambda i, a: _video_product(a, weights[i]) + biases[i][:, None, None, :],
                        lambda i, a: _video_product(a, weights[layers + i]), self.cfg.model.damping, layers)

    def _update(self, x: torch.Tensor, y: torch.Tensor, phase: str) -> tuple[list[list[torch.Tensor] | None], torch.Tensor]:
        """As :meth:`ffrepro.recurrent.FFRecurrentTrainer.train_epoch`: the wrong labels (hard: sampled from
        each seed's goodness of all 10 labels after ``negative_iterations``, from its own generator),
        the positive and negative videos with every layer's loss at every loss iteration, then the
        readout on the neutral-label run's window of states."""
        m, weights, biases = self.cfg.model, self.dense[0], self.dense[1]
        layers, (seeds, n, _) = len(self.layers), x.shape
        a0 = length_normalize(x)
        image_term = _video_product(a0[:, None], weights[0]) + biases[0][:, None, None, :]  # (S, 1, N, units_1)
        if m.negative_labels == "hard":
            ten = torch.arange(NUM_CLASSES, device=x.device)[None, :, None].expand(seeds, NUM_CLASSES, n)
            for states, _ in self._states(image_term, self._label_state(ten, n), m.negative_iterations):
                pass
            goodness = self.trainers[0].net.scored_goodness(states, NUM_CLASSES).transpose(1, 2)  # (S, N, 10) after the last step
            neg = torch.stack([wrong_labels(y[s], t.gen, goodness[s]) for s, t in enumerate(self.trainers)])
        else:
            neg = torch.stack([wrong_labels(y[s], t.gen) for s, t in enumerate(self.trainers)])
        first, last = m.loss_iterations
        grad_up = [torch.zeros_like(w) for w in weights[:layers]]
        grad_down = [torch.zeros_like(w) for w in weights[layers:]]
        grad_b = [torch.zeros_like(b) for b in biases]
        image_grad = torch.zeros_like(image_term[:, 0])
        sums = torch.zeros(seeds, len(FF_STATS), layers, device=x.device, dtype=x.dtype)
        counts = torch.zeros(layers, device=x.device, dtype=x.dtype)
        for t, (states, inputs) in enumerate(self._states(image_term, self._label_state(torch.stack([y, neg], 1), n), last)):
            if t < first:
                continue
            for i, ((z, h), (below, above)) in enumerate(zip(states, inputs)):
                if h.shape[1] == 1:
                    continue  # label-free: the positive and negative videos are the same here
                dz, layer_stats = _compiled_video_loss(z, h, self.layer_constants[i], m.damping, last - first + 1, self.mean_activity[i])
                if i == 0:
                    image_grad += dz.sum(1)
                else:
                    grad_up[i] += _video_grad(dz, below)
                grad_down[i] += _video_grad(dz, above)
                grad_b[i] += dz.sum((1, 2))
                counts[i] += 1
                sums[:, :, i] += layer_stats
        grad_up[0] = matmul(image_grad.mT, a0)
        grads: list[list[torch.Tensor] | None] = [grad_up + grad_down, grad_b]
        if len(self.dense) > 2:  # the readout: on the neutral-label run's window of states (detached)
            window_first, window_last = m.test_window
            window = [[length_normalize(states[i][1][:, 0]) for i in range(m.first_scored_layer, layers)]
                      for t, (states, _) in enumerate(self._states(image_term, self._label_state(None, n), window_last)) if t >= window_first]
            feats = torch.cat([torch.stack([step[j] for step in window]).mean(0) for j in range(len(window[0]))], -1)  # (S, N, F)
            readout_w, readout_b = self.dense[2]
            log_p = torch.log_softmax(matmul(feats, readout_w.mT) + readout_b[:, None, :], -1)
            target = F.one_hot(y, NUM_CLASSES).to(x.dtype)
            self.readout_loss += -(log_p * target).sum((1, 2))
            d_logits = (log_p.exp() - target) / n
            grads.append([matmul(d_logits.mT, feats), d_logits.sum(1)])
        return grads, sums / counts.clamp(min=1)


class StackedBP:
    """The backprop baseline (:class:`ffrepro.bp.BPTrainer`), stacked: each linear layer's weights of all
    seeds in one (S, out, in) tensor (a locally connected map's compact weights scattered into its dense
    matrix, as :meth:`ffrepro.local.LocallyConnected.dense_weight` does, where that is how it is computed), the seeds' losses summed (each seed's parameters get exactly its own
    gradient), and one Adam over the stacked tensors, whose update is element by element, so each seed's
    is the one its own Adam makes. Between epochs the parameters and Adam's moments are the one-seed
    trainers', as in :class:`StackedFF`."""

    def __init__(self, trainers: list[Any]):
        self.trainers, self.cfg = trainers, _shared_config(trainers)
        self.modules = list(trainers[0].net)  # the layers in order; the ReLUs and the black box are used as they are

    def _stack(self) -> None:
        per_seed = [list(t.net.parameters()) for t in self.trainers]
        self.params = [torch.stack([ps[i].detach() for ps in per_seed]).requires_grad_(True) for i in range(len(per_seed[0]))]
        group = {k: v for k, v in self.trainers[0].optimizer.param_groups[0].items() if k != "params"}  # lr after the epoch's gain
        self.optimizer = torch.optim.Adam([{**group, "params": self.params}])
        states = [[t.optimizer.state.get(p, {}) for p in ps] for t, ps in zip(self.trainers, per_seed)]
        for i, p in enumerate(self.params):
            if states[0][i]:  # after the first step: stacked moments, and the step count all seeds share
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
                h = torch.baddbmm(b[:, None, :], h, w.mT)
            elif isinstance(module, LocallyConnected):  # its dense matrix, built from each seed's compact weights (differentiably)
                w, b = next(params), next(params)
                h = torch.baddbmm(b.transpose(1, 2).flatten(1)[:, None, :], h, (module.scatter_dense(w)).mT)
            else:
                h = module(h)
        return h

    def train_epoch(self, epoch: int, progress: Any = None) -> list[dict[str, Any]]:
        """One epoch of every seed, as :meth:`ffrepro.bp.BPTrainer.train_epoch`; each seed's metrics."""
        trainers, gain = self.trainers, lr_gain(epoch, self.cfg.optim.epochs)
        for t in trainers:
            set_gain(t.optimizer, gain)
        self._stack()
        plans = [t.minibatches() for t in trainers]
        total = torch.zeros(len(trainers), device=trainers[0].train_split.y.device)
        for step in range(len(plans[0])):
            batches = [t.batch(plan[step]) for t, plan in zip(trainers, plans)]
            x, y = torch.stack([b[0] for b in batches]), torch.stack([b[1] for b in batches])
            logits = self._forward(x)
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(1)  # (S,): each seed's mean
            self.optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            self.optimizer.step()
            total += loss.detach() * y.shape[1]
            if progress is not None:
                progress.update(1)
        self._unstack()
        return [t.epoch_log(total[s]) for s, t in enumerate(trainers)]
