"""Several seeds of one entry trained as one stacked model (issue 12, part 2).

At the paper's minibatch of 100 an FF update is many small products, and a GPU spends it launching
kernels. Here S seeds' weights are stacked into (S, H, D) tensors, so each product of an update is one
batched matmul for all the seeds, and the gradients are written out without building a graph: an
update is a short, fixed sequence of kernels with no transfer to the host. The maths is the one-seed
code's, called with a leading seeds axis: layer 1 shared across labels (:func:`ffrepro.ff.labelled_first`
and its gradient), the FF loss and its gradient (:func:`ffrepro.ff.ff_loss`, :func:`ffrepro.ff.ff_loss_grad`)
and statistics (:func:`ffrepro.trainer.ff_stats_row`), the recurrent dynamics
(:func:`ffrepro.recurrent.dynamics`) and the optimiser step (:func:`ffrepro.optim.smoothed_step`); what
is here strings them into passes and moves the state between the seeds' trainers and the stack.

Each seed keeps what makes it that seed: its initial weights (made by its one-seed trainer under its
own ``torch.manual_seed``) and its data order, shifts, wrong labels or hybrid masks, drawn from its own
generator in the order the one-seed trainer draws them. So seed s of a stacked run computes what a
run of seed s alone computes, up to float rounding (``tests/test_stacked.py`` checks it), and leaves
the same checkpoints and results: the stacked model is made from the seeds' one-seed trainers at the
start of every epoch and written back into them at its end, and everything else (validation,
evaluation, extras, checkpoints) stays theirs.

What it covers is :func:`stackable`'s: supervised and unsupervised FF with any schedule (interleaved,
day and night phases, days only), recurrent FF with top-down connections (:class:`StackedFFRecurrent`)
and backprop with Adam (:class:`StackedBP`), with dense layers (and, except in supervised FF, locally
connected maps computed as dense matrices: :meth:`ffrepro.local.LocallyConnected.scatter_dense`), float32 products (TF32 on a GPU where ``FFREPRO_TF32=1``),
with or without a black box (:mod:`ffrepro.blackbox`, which then quantises all the seeds' rows in one
call: one trip to the host per pass instead of one per seed). The joint and streaming updates give
the same weights, so both are covered. Anything else is refused with the reason; the runner then runs
those seeds one at a time. With ``FFREPRO_COMPILE=1`` (:mod:`ffrepro.compiled`) the optimiser step
and the feed-forward update's passes are compiled (not those with a black box: numpy cannot be
compiled; in the recurrent update, each layer's loss and gradient at each step).
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
from ffrepro.ff import ff_loss, ff_loss_grad, labelled_first, labelled_first_grad, length_normalize, matmul, peer_push, unlabelled_images, wrong_labels
from ffrepro.local import LocallyConnected, computed_dense
from ffrepro.optim import lr_gain, set_gain, smoothed_step
from ffrepro.recurrent import dynamics
from ffrepro.supervised import predict
from ffrepro.trainer import FF_STATS, Trainer, error_rate, ff_stats, ff_stats_row
from ffrepro.unsupervised import blurred_masks, hybrid_draws, hybrid_images


def stackable(cfg: RunConfig) -> str | None:
    """Why a config cannot train stacked, or None if it can."""
    model = cfg.model
    if cfg.method == "bp" and cfg.optim.algorithm != "adam":
        return f"backprop with {cfg.optim.algorithm!r} (only backprop with Adam stacks)"
    maps = local_maps(cfg)
    if maps:
        if cfg.method == "ff-supervised":
            return "locally connected layers (they stack in unsupervised and recurrent FF and in backprop)"
        if not all(computed_dense(shape, spec) for shape, spec in maps):
            return "locally connected layers too sparse for a dense matrix, computed alone by tiles or copied windows (only maps within ffrepro.local.DENSE_MAX_RATIO stack, as dense matrices)"
    if getattr(model, "precision", "fp32") not in ("fp32", "auto"):  # "auto" stacks where it runs in fp32 (the runner asks again, resolved)
        return f"precision {model.precision!r} (only float32 products stack)"
    return None


Box = tuple[int, Callable[[torch.Tensor], torch.Tensor]]  # a black box (ffrepro.blackbox): the layer it follows (1-based), and the box


def _upward(x0: torch.Tensor, z1: torch.Tensor, weights: list[torch.Tensor], biases: list[torch.Tensor],
            box: Box | None = None) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """[(layer input, pre-activation, states)] of every layer, from layer 1's input ``x0`` and pre-activations
    ``z1``; the layer after a black box gets the box's output (all seeds' rows at once), as
    :meth:`ffrepro.ff.FFNet.passed_on` hands it on."""
    out = [(x0, z1, torch.relu(z1))]
    for i, (w, b) in enumerate(zip(weights[1:], biases[1:]), start=1):
        h = out[-1][2]
        a = length_normalize(box[1](h) if box is not None and box[0] == i else h)
        z = matmul(a, w.mT).add_(b[:, None, :])
        out.append((a, z, torch.relu(z)))
    return out


def _neutral_pass(shared: tuple[torch.Tensor, ...], y: torch.Tensor, weights: list[torch.Tensor], biases: list[torch.Tensor], readout: torch.Tensor,
                  neutral_label: float, first_scored: int, box: Box | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The neutral-label pass of an update: the readout's logits (S, B, 10), its cross-entropy gradient
    (S, 10, F), averaged over the batch, and its loss summed over the batch (S,)."""
    x0 = shared[0]
    seeds, n, _ = x0.shape
    neutral = torch.full((seeds, n, NUM_CLASSES), neutral_label, device=x0.device, dtype=x0.dtype)
    states = _upward(x0, labelled_first(shared[2], shared[1], neutral, weights[0], biases[0], x0.shape[-1])[0], weights, biases, box)
    feats = torch.cat([length_normalize(h) for _, _, h in states[first_scored:]], dim=-1)  # (S, B, F)
    logits = matmul(feats, readout.mT)
    log_p = torch.log_softmax(logits, -1)
    target = F.one_hot(y, NUM_CLASSES).to(x0.dtype)
    readout_grad = matmul(((log_p.exp() - target) / n).mT, feats)
    return logits, readout_grad, -(log_p * target).sum((1, 2))


def _layer_loss(z: torch.Tensor, h: torch.Tensor, n_pos: int, n: int, constants: tuple[float, float, float, float],
                mean_activity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer's FF loss on each seed's rows ``[:n_pos]`` positive and the rest negative, averaged over the
    batch size ``n`` (:func:`ffrepro.ff.ff_loss`, as one seed's :meth:`ffrepro.ff.FFLayer.fused_loss_terms`):
    its gradient with respect to ``z``, the running mean activity updated in place from the positive rows,
    and the statistics (S, len(FF_STATS)). ``constants``: the layer's (threshold, sign, peer normalisation,
    peer momentum). z, h: (S, rows, H) -> (dz (S, rows, H), statistics)"""
    threshold, sign, peer_normalization, momentum = constants
    push = peer_push(mean_activity, h[:, :n_pos], peer_normalization, momentum) if peer_normalization and n_pos else None  # (S, H)
    g, ff, peer, coef = ff_loss(z, h, n_pos, n, threshold, sign, push)
    return ff_loss_grad(h, coef, push, n_pos, n), ff_stats_row(ff, peer, g, n_pos, n)


def _layer_grads(states: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], n_pos: int, n: int, mean_activity: list[torch.Tensor],
                 layers: tuple[tuple[float, float, float, float], ...], labelled: tuple[torch.Tensor, torch.Tensor] | None = None
                 ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """Every layer's weight and bias gradients of its own loss (:func:`_layer_loss`) from a pass's :func:`_upward`
    states, the first ``n_pos`` rows positive, the running means updated, and the update's statistics
    (S, len(FF_STATS), layers). ``layers``: each layer's :func:`_layer_loss` constants; ``labelled``: layer 1's
    (scale, label pixels) where it shares the image product (:func:`ffrepro.ff.labelled_first_grad`)."""
    weight_grads, bias_grads, stats = [], [], []
    for i, (a, z, h) in enumerate(states):
        dz, layer_stats = _layer_loss(z, h, n_pos, n, layers[i], mean_activity[i])
        weight_grads.append(labelled_first_grad(dz, labelled[0], a, labelled[1]) if i == 0 and labelled is not None else matmul(dz.mT, a))
        bias_grads.append(dz.sum(1))
        stats.append(layer_stats)
    return weight_grads, bias_grads, torch.stack(stats, -1)


def _labelled_pass(shared: tuple[torch.Tensor, ...], labels: list[torch.Tensor], n_pos: int, weights: list[torch.Tensor], biases: list[torch.Tensor],
                   mean_activity: list[torch.Tensor], label_strength: float, layers: tuple[tuple[float, float, float, float], ...],
                   box: Box | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """:func:`_layer_grads` of the images with each of ``labels`` (S, B) written in (the true labels, wrong ones,
    or both, the first ``n_pos`` rows positive), through layer 1's shared image product."""
    x0 = shared[0]
    pixels = torch.cat([F.one_hot(label, NUM_CLASSES) for label in labels], dim=1).to(x0.dtype) * label_strength  # (S, kB, 10)
    z1, scale = labelled_first(shared[2], shared[1], pixels, weights[0], biases[0], x0.shape[-1])
    return _layer_grads(_upward(x0, z1, weights, biases, box), n_pos, x0.shape[1], mean_activity, layers, (scale, pixels))


def _plain_pass(inputs: torch.Tensor, n_pos: int, n: int, weights: list[torch.Tensor], biases: list[torch.Tensor], mean_activity: list[torch.Tensor],
                layers: tuple[tuple[float, float, float, float], ...], box: Box | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """:func:`_layer_grads` of inputs without labels (unsupervised FF): each seed's (S, rows, D) inputs, the first
    ``n_pos`` rows positive, each layer's input length-normalised."""
    a0 = length_normalize(inputs)
    return _layer_grads(_upward(a0, matmul(a0, weights[0].mT).add_(biases[0][:, None, :]), weights, biases, box), n_pos, n, mean_activity, layers)


_compiled_shared = Compiled(unlabelled_images)
_compiled_neutral = Compiled(_neutral_pass)
_compiled_labelled = Compiled(_labelled_pass)
_compiled_plain = Compiled(_plain_pass)


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
        # the passes, compiled with FFREPRO_COMPILE=1; a black box runs numpy between layers, which a
        # compiled graph cannot hold, so with one they run as they are
        eager = box is not None
        self.neutral_pass = _neutral_pass if eager else _compiled_neutral
        self.labelled_pass = _labelled_pass if eager else _compiled_labelled
        self.plain_pass = _plain_pass if eager else _compiled_plain

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


class StackedFFSupervised(StackedFF):
    """Supervised FF (:class:`ffrepro.supervised.FFSupervisedTrainer`), stacked."""

    def start_epoch(self) -> None:
        self.readout_loss = torch.zeros(len(self.trainers), device=self.trainers[0].train_split.y.device)

    def end_epoch(self, seed_index: int) -> dict[str, Any]:
        t = self.trainers[seed_index]
        val = t.data.val.head(self.cfg.data.eval_examples)
        return {"readout_loss": self.readout_loss[seed_index].item() / t.epoch_examples(), "val_error_softmax": error_rate(predict(t.net, val.x, "softmax"), val.y)}

    def _update(self, x: torch.Tensor, y: torch.Tensor, phase: str) -> tuple[list[list[torch.Tensor] | None], torch.Tensor]:
        """As :meth:`ffrepro.supervised.FFSupervisedTrainer.train_epoch`: where the labels are shown (not at
        night) the neutral pass trains the readout; its prediction also gives the hard negatives; then the
        images with the true labels, the wrong ones, or both, go through, and every layer takes the
        gradient of its own loss. The passes are pure tensor functions, compiled with
        ``FFREPRO_COMPILE=1``; the wrong labels between them are drawn eagerly, from each seed's own generator."""
        model = self.cfg.model
        weights, biases, readout = self.dense
        shared = _compiled_shared(x, weights[0])
        hard = model.negative_labels == "hard"
        readout_grads, logits = None, None
        if phase != "negative" or hard:
            logits, readout_grad, loss = self.neutral_pass(shared, y, weights, biases, readout[0], model.neutral_label, model.first_scored_layer, self.box)
            if phase != "negative":  # the readout learns where the labels are shown
                self.readout_loss += loss
                readout_grads = [readout_grad]
        labels = []
        if phase != "negative":
            labels.append(y)
        if phase != "positive":
            labels.append(torch.stack([wrong_labels(y[s], t.gen, logits[s] if hard else None) for s, t in enumerate(self.trainers)]))  # type: ignore[index]
        n_pos = x.shape[1] if phase != "negative" else 0
        weight_grads, bias_grads, stats = self.labelled_pass(shared, labels, n_pos, weights, biases, self.mean_activity, model.label_strength, self.layer_constants, self.box)
        return [weight_grads, bias_grads, readout_grads], stats


class StackedFFUnsupervised(StackedFF):
    """Unsupervised FF (:class:`ffrepro.unsupervised.FFUnsupervisedTrainer`): real images positive, hybrids
    of two images of the same batch negative, stacked."""

    def _update(self, x: torch.Tensor, y: torch.Tensor, phase: str) -> tuple[list[list[torch.Tensor] | None], torch.Tensor]:
        """Where negative data are shown, each seed's hybrids from its own generator
        (:func:`ffrepro.unsupervised.hybrid_draws`), the masks of
        all seeds blurred together; then the real images, the hybrids, or both go through (:func:`_plain_pass`)."""
        seeds, n, width = x.shape
        inputs, n_pos = x, n
        if phase != "positive":
            draws = [hybrid_draws(n, int(round(width**0.5)), t.gen, x.device) for t in self.trainers]
            partner = torch.stack([p for p, _ in draws])
            masks = blurred_masks(torch.cat([bits for _, bits in draws]), self.cfg.model.blur_steps).view(seeds, n, width)
            neg = hybrid_images(x, torch.gather(x, 1, partner[..., None].expand(-1, -1, width)), masks)
            inputs, n_pos = (neg, 0) if phase == "negative" else (torch.cat([x, neg], 1), n)
        weights, biases = self.dense
        weight_grads, bias_grads, stats = self.plain_pass(inputs, n_pos, n, weights, biases, self.mean_activity, self.layer_constants, self.box)
        return [weight_grads, bias_grads], stats


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
