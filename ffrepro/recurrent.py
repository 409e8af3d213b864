"""Recurrent FF with top-down connections (paper section 3.4): a static image as a "boring video".

The bottom layer is the (length-normalised) image, the top layer a clamped one-hot label. Each hidden
layer has bottom-up weights and a bias (its :class:`~ffrepro.ff.FFLayer`'s ``linear``) and separate
top-down weights from the layer above; the label feeds the last hidden layer only. One bottom-up
pass, with every top-down input (the label's too) at zero, initialises the hidden states; then
every hidden layer is recomputed at once (synchronously) from the normalised states of its two
neighbours at the previous step, and the new pre-normalisation state is damped:
``h_t = damping * h_{t-1} + (1 - damping) * relu(W_up a_below + W_down a_above + b)``.

Each layer learns from its own goodness at every iteration in ``loss_iterations``: its inputs are
detached, so no gradient crosses time steps or layers. :class:`StackedFFRecurrent` is the update, for one
seed (a stack of one) or stacked seeds, with that gradient written out; its plain reference, autograd
through :meth:`RecurrentFFNet.run`, is in the tests.

States carry a leading *label* axis: ``(K, N, units)`` with K = 1 for a state that no label has
reached yet (the initial pass, and the lower layers during the first iterations) and K = the number
of labels tried once it has. The runs with 10 labels at test time, and with a positive and a
negative label in training, are therefore batched, and the label-free part of them is computed once
and broadcast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ffrepro.compiled import Compiled
from ffrepro.config import RecurrentFFConfig, RunConfig
from ffrepro.cost import layer_weights
from ffrepro.data import NUM_CLASSES, Dataset
from ffrepro.ff import DENSE, FF_STATS, Bf16Linear, FFLayer, ff_loss, ff_loss_grad, ff_stats_row, image_shape, length_normalize, matmul, peer_push, wrong_labels
from ffrepro.local import LocallyConnected, map_shapes
from ffrepro.optim import SmoothedSGD
from ffrepro.stacked import StackedFF
from ffrepro.trainer import EVAL_CHUNK, GOODNESS_SAMPLE, Trainer, error_rate, local_fields

VAL_EPOCH = 2000  # validation images whose error is measured after every epoch (the full split at the end)
SETTLING_EXAMPLES = 8  # test images whose per-label goodness over the iterations is saved for the book

State = tuple[torch.Tensor, torch.Tensor]  # (pre-activation z, damped ReLU state h), each (K, N, units)


def windows(iterations: int) -> list[tuple[int, int]]:
    """Every averaging window (first, last), 1 <= first <= last <= iterations."""
    return [(a, b) for a in range(1, iterations + 1) for b in range(a, iterations + 1)]


def window_name(window: tuple[int, int]) -> str:
    return f"{window[0]}-{window[1]}"


Product = Callable[[int, torch.Tensor], torch.Tensor]  # (layer index, normalised states) -> that layer's input from them


def initial_states(image_term: torch.Tensor, up: Product, layers: int) -> list[State]:
    """One bottom-up pass with every top-down input (the label's too) at zero, from the image's term of
    layer 1; ``up(i, a)``: layer i's bottom-up input (bias included) from the normalised states below."""
    states: list[State] = []
    for i in range(layers):
        z = image_term if i == 0 else up(i, length_normalize(states[-1][1]))
        states.append((z, torch.relu(z)))
    return states


def damped_step(image_term: torch.Tensor, label: torch.Tensor, states: list[State], up: Product, down: Product,
                damping: float, operand: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[list[State], list[tuple[torch.Tensor | None, torch.Tensor]]]:
    """One synchronous iteration: every layer from the normalised states of its neighbours at t-1 (the label
    above the last), ``h_t = damping h_{t-1} + (1 - damping) relu(up + down)``. The inputs are detached (no
    gradient across time or layers), so the gradient reaches only this step's weights, scaled by
    1 - damping. Shapes broadcast over the label axis, and over a leading seeds axis where one seed's
    products are stacked seeds' (:mod:`ffrepro.stacked`). Each state is normalised once for both
    neighbours it feeds, and ``operand`` (e.g. the cast to bf16 of a net with bf16 products) applied once
    too. -> (the new states, the normalised inputs [(from below, None for layer 1; from above)] that made them)"""
    h_old = [h.detach() for _, h in states]
    last = len(states) - 1
    normed = [length_normalize(h) for h in h_old]  # (a net of one layer never reads its own)
    if operand is not None:
        normed = [operand(a) for a in normed]
    inputs = [(None if i == 0 else normed[i - 1], label if i == last else normed[i + 1]) for i in range(len(states))]
    out = []
    for i, (below, above) in enumerate(inputs):
        z = (image_term if below is None else up(i, below)) + down(i, above)
        out.append((z, damping * h_old[i] + (1 - damping) * torch.relu(z)))
    return out, inputs


def dynamics(image_term: torch.Tensor, label: torch.Tensor, iterations: int, up: Product, down: Product, damping: float,
             layers: int, operand: Callable[[torch.Tensor], torch.Tensor] | None = None
             ) -> Iterator[tuple[list[State], list[tuple[torch.Tensor | None, torch.Tensor]] | None]]:
    """The initial pass (:func:`initial_states`) and ``iterations`` steps (:func:`damped_step`, with its ``operand``), one
    at a time: each step's states and the inputs that made them (None for the initial pass)."""
    states = initial_states(image_term, up, layers)
    yield states, None
    label = label if operand is None else operand(label)
    for _ in range(iterations):
        states, inputs = damped_step(image_term, label, states, up, down, damping, operand)
        yield states, inputs


def _to_bf16(a: torch.Tensor) -> torch.Tensor:
    return a.to(torch.bfloat16)


class RecurrentFFNet(nn.Module):
    """The recurrent net of section 3.4: FF layers with bottom-up and separate top-down weights."""

    def __init__(self, n_in: int, cfg: RecurrentFFConfig):
        super().__init__()
        self.cfg = cfg
        below = (n_in, *cfg.hidden[:-1])
        above = (*cfg.hidden[1:], NUM_CLASSES)  # the last hidden layer's "layer above" is the label
        ups, downs = self._local_connections(n_in, cfg) if cfg.local else ([None] * len(cfg.hidden), [None] * len(cfg.hidden))
        self.layers = nn.ModuleList(FFLayer(b, n, cfg, up) for b, n, up in zip(below, cfg.hidden, ups))
        self.top_down = nn.ModuleList(down if down is not None else DENSE[cfg.precision](a, n, bias=False) for a, n, down in zip(above, cfg.hidden, downs))
        with torch.no_grad():  # ffcode's randn / sqrt(fan-in), the fan-in counting both directions
            for layer, down in zip(self.layers, self.top_down):
                std = (_fan_in(layer.linear) + _fan_in(down)) ** -0.5
                layer.linear.weight.normal_(0.0, std)
                down.weight.normal_(0.0, std)
        # the one-pass softmax readout (section 4), on the scored layers' states under a neutral label
        self.readout = nn.Linear(sum(cfg.hidden[cfg.first_scored_layer :]), NUM_CLASSES) if cfg.softmax_readout else None

    @staticmethod
    def _local_connections(n_in: int, cfg: RecurrentFFConfig) -> tuple[list[nn.Module], list[nn.Module | None]]:
        """Locally connected bottom-up maps (one per ``cfg.local`` spec, from the image up) and top-down
        maps into each layer from the map above it, through the same window; the label's top-down
        connection stays dense (None here)."""
        shapes, ups = [image_shape(n_in)], []
        for spec in cfg.local:
            ups.append(LocallyConnected(shapes[-1], spec))
            shapes.append(ups[-1].out_shape)
        downs: list[nn.Module | None] = [LocallyConnected(shapes[i + 2], spec, bias=False) for i, spec in enumerate(cfg.local[:-1])]
        return ups, [*downs, None]

    # --- the dynamics --------------------------------------------------------------------------
    def label_state(self, labels: torch.Tensor | None, n: int = 0) -> torch.Tensor:
        """The clamped top layer, length-normalised like every other state. labels: (K, N) -> (K, N, 10);
        None: the neutral label, every unit equal, for ``n`` images -> (1, n, 10)."""
        dtype, device = self.top_down[-1].weight.dtype, self.top_down[-1].weight.device
        if labels is None:
            return torch.ones(1, n, NUM_CLASSES, dtype=dtype, device=device)  # already of mean square 1
        return length_normalize(nn.functional.one_hot(labels, NUM_CLASSES).to(dtype) * self.cfg.label_strength)

    def bottom_up(self, image: torch.Tensor) -> torch.Tensor:
        """The image's contribution to the first layer, the same at every step. image: (N, D) -> (1, N, units)"""
        return self.layers[0].linear(length_normalize(image).unsqueeze(0))

    def initial_states(self, image: torch.Tensor, image_term: torch.Tensor | None = None) -> list[State]:
        """One bottom-up pass with every top-down input (the label's too) at zero. image: (N, D) -> [(1, N, units)]"""
        return initial_states(image_term if image_term is not None else self.bottom_up(image), self._up, len(self.layers))

    def step(self, image_term: torch.Tensor, label: torch.Tensor, states: list[State]) -> list[State]:
        """One synchronous iteration (:func:`damped_step`). image_term: (1, N, units_1) from :meth:`bottom_up`;
        label: (K, N, 10) from :meth:`label_state`; states: [(z, h)] with h (K_i, N, units_i), K_i in {1, K}."""
        return damped_step(image_term, label, states, self._up, self._down, self.cfg.damping, self._operand())[0]

    def _operand(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The cast of the products' operands, made once per state for both products that read it: to bf16
        for a net with bf16 products (each would cast it otherwise), none in fp32."""
        return _to_bf16 if self.cfg.precision == "bf16" and not self.cfg.local else None

    def _up(self, i: int, a: torch.Tensor) -> torch.Tensor:
        return self.layers[i].linear(a)

    def _down(self, i: int, a: torch.Tensor) -> torch.Tensor:
        return self.top_down[i](a)

    def run(self, image: torch.Tensor, labels: torch.Tensor | None, iterations: int) -> list[list[State]]:
        """The initial pass and ``iterations`` steps. image: (N, D), labels: (K, N) or None (the neutral
        label) -> [t][layer] (z, h), t = 0..iterations"""
        return list(self.states_over_time(image, labels, iterations))

    def states_over_time(self, image: torch.Tensor, labels: torch.Tensor | None, iterations: int) -> Iterator[list[State]]:
        """:meth:`run` one step at a time, keeping no step that the caller does not keep (the test of
        every label on CIFAR-10 holds 10 x 3072 units per image and layer at each step)."""
        label = self.label_state(labels, image.shape[0])
        for states, _ in dynamics(self.bottom_up(image), label, iterations, self._up, self._down, self.cfg.damping, len(self.layers), self._operand()):
            yield states

    # --- scoring -------------------------------------------------------------------------------
    def scored_goodness(self, states: list[State], k: int) -> torch.Tensor:
        """Goodness summed over the scored layers, signed so that larger means 'more positive'; leading axes
        (stacked seeds) are kept. -> (..., k, N)"""
        total = sum(FFLayer.goodness(h) for _, h in states[self.cfg.first_scored_layer :])
        return self.layers[0].sign * total.expand(*total.shape[:-2], k, -1)

    @torch.no_grad()
    def label_goodness(self, image: torch.Tensor, iterations: int | None = None) -> torch.Tensor:
        """Run with each of the 10 labels (batched: 10N rows); scored goodness at every step.

        image: (N, D) -> (iterations + 1, N, 10), step 0 being the label-free initial pass.
        """
        n = image.shape[0]
        labels = torch.arange(NUM_CLASSES, device=image.device).unsqueeze(1).expand(NUM_CLASSES, n)
        steps = self.states_over_time(image, labels, self.cfg.iterations if iterations is None else iterations)
        return torch.stack([self.scored_goodness(states, NUM_CLASSES).T for states in steps])

    @staticmethod
    def window_scores(goodness: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
        """Goodness averaged over iterations first..last (1-based, inclusive). (T + 1, N, 10) -> (N, 10)"""
        return goodness[window[0] : window[1] + 1].mean(0)

    def scores(self, image: torch.Tensor) -> torch.Tensor:
        """The test of section 3.4: goodness of each label averaged over ``test_window``. (N, D) -> (N, 10)"""
        return self.window_scores(self.label_goodness(image, self.cfg.test_window[1]), self.cfg.test_window)

    @torch.no_grad()
    def readout_features(self, image: torch.Tensor) -> torch.Tensor:
        """What the softmax readout sees: one run with the neutral label, each scored layer's
        length-normalised state averaged over ``test_window``, concatenated. (N, D) -> (N, units)"""
        first, last = self.cfg.test_window
        layers = range(self.cfg.first_scored_layer, len(self.layers))
        window = [[length_normalize(states[i][1][0]) for i in layers] for t, states in enumerate(self.states_over_time(image, None, last)) if t >= first]
        return torch.cat([torch.stack([step[j] for step in window]).mean(0) for j in range(len(layers))], dim=1)

    def scores_softmax(self, image: torch.Tensor) -> torch.Tensor:
        """The one-pass softmax test of section 4: the readout's logits. (N, D) -> (N, 10)"""
        if self.readout is None:
            raise ValueError("this net has no softmax readout (model.softmax_readout is false)")
        return self.readout(self.readout_features(image))


def _fan_in(module: nn.Module) -> int:
    """Inputs per unit: a dense layer's in_features, a locally connected layer's patch size."""
    return module.in_features if isinstance(module, nn.Linear) else module.weight.shape[1]


def flops(n_in: int, cfg: RecurrentFFConfig) -> dict[str, float]:
    """Analytic FLOPs (2 per multiply-add) per image, an upper bound that ignores the label-free
    sharing of the early iterations.

    ``train``: the hard-negative prediction (the image term, the initial pass and
    ``negative_iterations`` label-free steps), then the positive and negative videos: the image term
    and initial pass once, and per iteration 2 rows forward and 2 rows of weight gradients through
    every weight but the image's (``P'``), whose term is computed once and whose gradient is summed.
    ``eval``: one image tried with every label for all ``iterations``. With the softmax readout, both
    add one neutral-label run to the end of the test window.
    """
    up = layer_weights(n_in, cfg)
    if cfg.local:  # top-down into layer i sees the map of layer i + 1 (shape i + 2) through layer i's window
        shapes = map_shapes(image_shape(n_in), cfg.local)
        down = [s.weights(shapes[i + 2][0]) for i, s in enumerate(cfg.local[:-1])]
    else:
        down = up[1:]  # top-down from layer i + 1 into layer i: as many weights as bottom-up the other way
    image, init = up[0], sum(up[1:])
    recurrent = init + sum(down) + NUM_CLASSES * cfg.hidden[-1]  # P': bottom-up above layer 1, top-down, the label's
    train = 3 * image + 2 * init + (cfg.negative_iterations + 4 * cfg.iterations) * recurrent
    evaluate = image + init + NUM_CLASSES * cfg.iterations * recurrent
    if cfg.softmax_readout:  # one neutral-label run to the end of the test window (and the readout), in training and at test
        neutral = image + init + cfg.test_window[1] * recurrent + sum(cfg.hidden[cfg.first_scored_layer :]) * NUM_CLASSES
        train, evaluate = train + neutral, evaluate + neutral
    return {"train": 2.0 * train, "eval": 2.0 * evaluate}


def recurrent_optimizer(net: RecurrentFFNet, cfg: RunConfig) -> SmoothedSGD:
    """ffcode's groups: decayed weights (bottom-up and top-down), undecayed biases."""
    o = cfg.optim
    weights = [layer.linear.weight for layer in net.layers] + [down.weight for down in net.top_down]
    groups = [
        dict(params=weights, lr=o.lr, weight_decay=o.weight_decay),
        dict(params=[layer.linear.bias for layer in net.layers], lr=o.lr, weight_decay=0.0),
    ]
    if net.readout is not None:
        groups.append(dict(params=list(net.readout.parameters()), lr=o.readout_lr, weight_decay=o.readout_weight_decay))
    return SmoothedSGD(groups, lr=o.lr, smoothing=o.smoothing)


def error_table(goodness: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """Errors (%) of every window and of each single iteration. goodness: (T + 1, N, 10), y: (N,)"""
    iterations = goodness.shape[0] - 1
    return {
        "windows": {window_name(w): error_rate(RecurrentFFNet.window_scores(goodness, w).argmax(1), y) for w in windows(iterations)},
        "iterations": [error_rate(goodness[t].argmax(1), y) for t in range(1, iterations + 1)],
    }


class FFRecurrentTrainer(Trainer):
    """Trains a :class:`RecurrentFFNet` on positive and negative videos, batched together."""

    net: RecurrentFFNet

    def __init__(self, cfg: RunConfig, data: Dataset, generator: torch.Generator):
        assert isinstance(cfg.model, RecurrentFFConfig)
        super().__init__(cfg, data, generator)
        self.net = RecurrentFFNet(data.num_inputs, cfg.model).to(data.train.x.device)
        self.optimizer = recurrent_optimizer(self.net, cfg)
        self._tables: dict[str, dict[str, Any]] = {}

    def train_epoch(self, epoch: int, progress: Any = None) -> dict[str, Any]:
        """One epoch through the one update (:class:`StackedFFRecurrent`, a stack of one)."""
        return StackedFFRecurrent([self]).train_epoch(epoch, progress)[0]

    def validation_log(self, readout_loss: torch.Tensor) -> dict[str, Any]:
        """What an epoch logs besides the FF statistics: the validation error of the goodness test on
        the first :data:`VAL_EPOCH` images and, with the readout, its training loss per example (from the
        epoch's summed ``readout_loss``) and its validation error."""
        val = self.data.val.head(min(VAL_EPOCH, self.cfg.data.eval_examples or VAL_EPOCH))
        log = {"val_error_goodness": error_rate(self.predict(val.x), val.y)}
        if self.net.readout is not None:
            log |= {"readout_loss": readout_loss.item() / self.epoch_examples(), "val_error_softmax": error_rate(self.predict_softmax(val.x), val.y)}
        return log

    @torch.no_grad()
    def predict(self, x: torch.Tensor, chunk: int = EVAL_CHUNK) -> torch.Tensor:
        """Labels picked by the test window's goodness, in chunks. x: (N, D) -> (N,)"""
        return torch.cat([self.net.scores(x[i : i + chunk]).argmax(1) for i in range(0, x.shape[0], chunk)])

    @torch.no_grad()
    def predict_softmax(self, x: torch.Tensor, chunk: int = EVAL_CHUNK) -> torch.Tensor:
        """Labels picked by the one-pass softmax readout, in chunks. x: (N, D) -> (N,)"""
        return torch.cat([self.net.scores_softmax(x[i : i + chunk]).argmax(1) for i in range(0, x.shape[0], chunk)])

    @torch.no_grad()
    def goodness_trajectory(self, x: torch.Tensor, chunk: int = EVAL_CHUNK) -> torch.Tensor:
        """Per-label scored goodness at every step, in chunks. x: (N, D) -> (iterations + 1, N, 10)"""
        return torch.cat([self.net.label_goodness(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)], dim=1)

    def evaluate(self) -> dict[str, dict[str, float]]:
        """Test error (%) of the configured window ("goodness"), of all iterations and of the last one;
        the errors of every window and every single iteration are kept for :meth:`extras`."""
        m = self.net.cfg
        final = {}
        for name, split in self.eval_splits().items():
            table = error_table(self.goodness_trajectory(split.x), split.y)
            self._tables[name] = table
            final[name] = {
                "goodness": table["windows"][window_name(m.test_window)],
                "all_iterations": table["windows"][window_name((1, m.iterations))],
                "last_iteration": table["iterations"][-1],
            }
            if self.net.readout is not None:
                final[name]["softmax"] = error_rate(self.predict_softmax(split.x), split.y)
        return final

    @torch.no_grad()
    def extras(self) -> dict[str, Any]:
        """For the book: errors per window and per iteration, per-label goodness of a few test digits
        over the iterations, and per-layer goodness of positive and negative validation videos."""
        net, m = self.net, self.net.cfg
        if not self._tables:
            self.evaluate()
        test = self.data.test.head(SETTLING_EXAMPLES)
        settling = net.label_goodness(test.x)  # (T + 1, n, 10)
        val = self.data.val.head(GOODNESS_SAMPLE)
        neg = wrong_labels(val.y, torch.Generator(val.y.device).manual_seed(0), net.label_goodness(val.x, m.negative_iterations)[-1])
        trajectory = net.run(val.x, torch.stack([val.y, neg]), m.iterations)
        per_layer = torch.stack(  # (T + 1, layers, 2, n)
            [torch.stack([FFLayer.goodness(h.expand(2, -1, -1).flatten(0, 1)).view(2, -1) for _, h in states]) for states in trajectory]
        )
        a, b = m.test_window
        window_mean = per_layer[a : b + 1].mean(0)  # (layers, 2, n)
        return {
            "window_error": {s: t["windows"] for s, t in self._tables.items()},
            "iteration_error": {s: t["iterations"] for s, t in self._tables.items()},
            "settling": {"labels": test.y.tolist(), "goodness": [[[round(v, 2) for v in row] for row in settling[:, j].tolist()] for j in range(len(test.y))]},
            "goodness_sample": {
                kind: [[round(v, 2) for v in window_mean[layer, k].tolist()] for layer in range(len(net.layers))]
                for k, kind in enumerate(("positive", "negative"))
            },
            "goodness_by_iteration": {
                kind: [[round(v, 2) for v in per_layer[:, layer, k].mean(1).tolist()] for layer in range(len(net.layers))]
                for k, kind in enumerate(("positive", "negative"))
            },
            "threshold": [layer.threshold for layer in net.layers],
            **({"first_layer_fields": local_fields(net.layers[0].linear)} if m.local else {}),
        }


def _video_loss(z: torch.Tensor, h: torch.Tensor, constants: tuple[float, float, float, float], damping: float, iterations: int,
                mean_activity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer's loss at one step of the positive and negative videos (label axis K = 2): its gradient with
    respect to ``z`` (through the damped ReLU, h = damping x h_old + (1 - damping) x relu(z); the peer term
    on z itself), divided by the ``iterations`` the loss is averaged over, the running mean activity updated
    in place from the positive video, and the statistics (S, len(FF_STATS)). z, h: (S, 2, N, H) -> (dz (S, 2, N, H), statistics)"""
    threshold, sign, peer_normalization, momentum = constants
    seeds, _, n, width = h.shape
    rows, z_rows = h.reshape(seeds, 2 * n, width), z.reshape(seeds, 2 * n, width)
    push = peer_push(mean_activity, h[:, 0], peer_normalization, momentum) if peer_normalization else None  # (S, H)
    g, ff, peer, coef = ff_loss(z_rows, rows, n, n, threshold, sign, push)
    dz = ff_loss_grad(rows, coef, push, n, n, through=(z_rows > 0) * (1 - damping))
    return dz.div_(iterations).view(seeds, 2, n, width), ff_stats_row(ff, peer, g, n, n)


_compiled_video_loss = Compiled(_video_loss)


class StackedFFRecurrent(StackedFF):
    """Recurrent FF's update, for one seed or stacked seeds (:class:`ffrepro.stacked.StackedFF`): the states
    carry a seeds axis before the label axis, (S, K, N, units), and every layer's gradient of its own loss at
    every loss iteration is written out. Its inputs are detached, so the gradient of a step reaches only that
    step's bottom-up and top-down weights and bias, through the damped ReLU; the image's term is computed once
    and its weight gradient summed over the steps. Each connection multiplies as its module does: a dense
    layer in fp32 or bf16 (its operands cast once per state, :meth:`RecurrentFFNet._operand`), a locally
    connected map by its dense matrix or by tiles."""

    logs_schedule = False  # the recurrent trainer's epochs log no schedule
    tiles_products = True

    def __init__(self, trainers: list[Any]):
        super().__init__(trainers)
        net: RecurrentFFNet = trainers[0].net
        self.net = net  # for the label states and scoring, which hold no parameters
        # group 0's weights in the optimiser's order: every layer's bottom-up, then every top-down connection
        self.bf16 = tuple(isinstance(c, Bf16Linear) for c in [layer.linear for layer in net.layers] + list(net.top_down))
        self.operand = net._operand()
        # each connection by tiles: its latest product's input and the blocks gathered from it, (S,) of (rows, tiles, block units)
        self.blocks: dict[int, tuple[torch.Tensor, tuple[torch.Tensor, ...]]] = {}

    def start_epoch(self) -> None:
        self.readout_loss = torch.zeros(len(self.trainers), device=self.trainers[0].train_split.y.device)

    def end_epoch(self, seed_index: int) -> dict[str, Any]:
        return self.trainers[seed_index].validation_log(self.readout_loss[seed_index])

    # --- the products of connection j of group 0 (its weights as :meth:`product_weights` gives them) ---------
    def _product(self, j: int, a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """States times connection j's weights, over the label axis too. a: (S, K, N, D) -> (S, K, N, H). A map
        by tiles keeps the blocks it gathers from ``a`` until its next product (:attr:`blocks`, for :meth:`_keep`)."""
        s, k, n, d = a.shape
        owner = self.local[0][j]
        if self.tiled(owner):
            outs, blocks = zip(*(owner[0].tiles_blocks(a[i].reshape(k * n, d), w[i]) for i in range(s)))
            self.blocks[j] = (a, blocks)
            return torch.stack(outs).view(s, k, n, -1)
        return matmul(a.reshape(s, k * n, d), w.mT, self.bf16[j]).view(s, k, n, -1)

    def _keep(self, kept: dict[int, list[tuple[torch.Tensor, Any]]], j: int, dz: torch.Tensor, a: torch.Tensor) -> None:
        """Keep, for connection j's weight gradient (:meth:`_weight_grad`), its product's output gradient at one
        step and what met it: the input's rows, or a map by tiles' blocks gathered from it. An input without its
        own label axis (K = 1, broadcast to every label) meets the gradient summed over that axis.
        dz: (S, K, N, H), a: (S, 1 or K, N, D), the input of connection j's latest product"""
        if a.shape[1] == 1 and dz.shape[1] != 1:
            dz = dz.sum(1, keepdim=True)
        s = dz.shape[0]
        if self.tiled(self.local[0][j]):
            source, met = self.blocks[j]
            if source is not a:
                raise RuntimeError(f"connection {j}'s blocks were gathered from another input than its gradient's")
        else:
            met = a.reshape(s, -1, a.shape[-1])
        kept.setdefault(j, []).append((dz.reshape(s, -1, dz.shape[-1]), met))

    def _weight_grad(self, j: int, kept: list[tuple[torch.Tensor, Any]]) -> torch.Tensor:
        """Connection j's weight gradient summed over the steps :meth:`_keep` kept, in one product of all their
        rows (one bigger product and one float32 result, instead of one of each a step) -> the gradient of
        its weights as :meth:`product_weights` gives them"""
        dz = torch.cat([g for g, _ in kept], 1)
        owner = self.local[0][j]
        if self.tiled(owner):
            return torch.stack([owner[0].tiles_weight_grad(dz[i], torch.cat([met[i] for _, met in kept])) for i in range(len(dz))])
        return matmul(dz.mT, torch.cat([met for _, met in kept], 1), self.bf16[j])

    def _label_state(self, labels: torch.Tensor | None, n: int) -> torch.Tensor:
        """:meth:`RecurrentFFNet.label_state` with a seeds axis. labels: (S, K, N) -> (S, K, N, 10);
        None: the neutral label -> (S, 1, n, 10)"""
        state = self.net.label_state(labels, n)
        return state if labels is not None else state.expand(len(self.trainers), -1, -1, -1)

    def _states(self, image_term: torch.Tensor, label: torch.Tensor, iterations: int, weights: list[torch.Tensor]) -> Any:
        """:func:`dynamics` of the stacked seeds. image_term: (S, 1, N, units_1), label: (S, K, N, 10)"""
        biases, layers = self.product[1], len(self.layers)
        return dynamics(image_term, label, iterations, lambda i, a: self._product(i, a, weights[i]) + biases[i][:, None, None, :],
                        lambda i, a: self._product(layers + i, a, weights[layers + i]), self.cfg.model.damping, layers, self.operand)

    def _update(self, x: torch.Tensor, y: torch.Tensor, phase: str) -> tuple[list[list[torch.Tensor] | None], torch.Tensor]:
        """The wrong labels (hard: sampled from each seed's goodness of all 10 labels after
        ``negative_iterations``, from its own generator; else uniform), the positive and negative videos
        with every layer's loss at every loss iteration (a layer whose state no label has reached yet is the
        same in both videos and carries no loss there), then the readout's cross-entropy on the
        neutral-label run's window of states (detached). The statistics are each layer's per-example sums,
        averaged over the iterations that carried its loss."""
        m, weights, biases = self.cfg.model, self.product_weights(), self.product[1]
        layers, (seeds, n, _) = len(self.layers), x.shape
        a0 = length_normalize(x)[:, None]  # (S, 1, N, D)
        if self.operand is not None:
            a0 = self.operand(a0)
        image_term = self._product(0, a0, weights[0]) + biases[0][:, None, None, :]  # (S, 1, N, units_1)
        if m.negative_labels == "hard":
            ten = torch.arange(NUM_CLASSES, device=x.device)[None, :, None].expand(seeds, NUM_CLASSES, n)
            for states, _ in self._states(image_term, self._label_state(ten, n), m.negative_iterations, weights):
                pass  # (to the last step)
            goodness = self.net.scored_goodness(states, NUM_CLASSES).transpose(1, 2)  # (S, N, 10) after the last step
            neg = torch.stack([wrong_labels(y[s], t.gen, goodness[s]) for s, t in enumerate(self.trainers)])
        else:
            neg = torch.stack([wrong_labels(y[s], t.gen) for s, t in enumerate(self.trainers)])
        first, last = m.loss_iterations
        kept: dict[int, list[tuple[torch.Tensor, Any]]] = {}  # each connection's output gradients and inputs (_keep)
        grad_b = [torch.zeros_like(b) for b in biases]
        image_grad = torch.zeros_like(image_term)
        sums = torch.zeros(seeds, len(FF_STATS), layers, device=x.device, dtype=x.dtype)
        counts = torch.zeros(layers, device=x.device, dtype=x.dtype)
        for t, (states, inputs) in enumerate(self._states(image_term, self._label_state(torch.stack([y, neg], 1), n), last, weights)):
            if t < first:
                continue
            for i, ((z, h), (below, above)) in enumerate(zip(states, inputs)):
                if h.shape[1] == 1:
                    continue  # label-free: the positive and negative videos are the same here
                dz, layer_stats = self.run_pass(_compiled_video_loss)(z, h, self.layer_constants[i], m.damping, last - first + 1, self.mean_activity[i])
                if i == 0:
                    image_grad += dz.sum(1, keepdim=True)
                else:
                    self._keep(kept, i, dz, below)
                self._keep(kept, layers + i, dz, above)
                grad_b[i] += dz.sum((1, 2))
                counts[i] += 1
                sums[:, :, i] += layer_stats
        self._keep(kept, 0, image_grad, a0)  # (connection 0 multiplies only the image: its blocks are still a0's)
        grads_w = [self._weight_grad(j, kept[j]) if j in kept else torch.zeros_like(w, dtype=torch.float32 if w.dtype == torch.bfloat16 else w.dtype)
                   for j, w in enumerate(weights)]
        grads: list[list[torch.Tensor] | None] = [grads_w, grad_b]
        if len(self.product) > 2:  # the readout: on the neutral-label run's window of states (detached)
            window_first, window_last = m.test_window
            window = [[length_normalize(states[i][1][:, 0]) for i in range(m.first_scored_layer, layers)]
                      for t, (states, _) in enumerate(self._states(image_term, self._label_state(None, n), window_last, weights)) if t >= window_first]
            feats = torch.cat([torch.stack([step[j] for step in window]).mean(0) for j in range(len(window[0]))], -1)  # (S, N, F)
            readout_w, readout_b = self.product[2]
            log_p = torch.log_softmax(matmul(feats, readout_w.mT) + readout_b[:, None, :], -1)
            target = F.one_hot(y, NUM_CLASSES).to(x.dtype)
            self.readout_loss += -(log_p * target).sum((1, 2))
            d_logits = (log_p.exp() - target) / n
            grads.append([matmul(d_logits.mT, feats), d_logits.sum(1)])
        self.blocks.clear()
        return grads, sums / counts.clamp(min=1)
