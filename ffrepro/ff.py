"""Forward-Forward layers and networks (paper sections 2 and 3.3).

Each layer is trained by its own logistic loss on its goodness; its input is the *detached*,
length-normalised activity of the layer below, so one backward call over the summed layer losses
still gives purely local updates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ffrepro.blackbox import BlackBox
from ffrepro.config import FFConfig
from ffrepro.data import NUM_CLASSES
from ffrepro.local import LocallyConnected
from ffrepro.results import cpu_bf16_units

def length_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale each row to a mean square of 1 (ffcode's ``ffnormrows``), so its length carries no goodness.

    x: (..., D) -> (..., D), normalised over the last axis
    """
    return x / (x.pow(2).mean(dim=-1, keepdim=True).sqrt() + eps)


def embed_label(x: torch.Tensor, label: torch.Tensor | None, strength: float = 1.0, neutral: float = 0.1) -> torch.Tensor:
    """Overwrite the first 10 pixels with a one-hot label (or ``neutral`` in each if ``label`` is None).

    x: (N, D), label: (N,) -> (N, D)
    """
    out = x.clone()
    if label is None:
        out[:, :NUM_CLASSES] = neutral
    else:
        out[:, :NUM_CLASSES] = label_pixels(label, strength, x.dtype)
    return out


def label_pixels(labels: torch.Tensor, strength: float, dtype: torch.dtype) -> torch.Tensor:
    """The 10 label pixels of rows with ``labels`` written in: one-hot, times ``strength``. (...,) -> (..., 10)"""
    return F.one_hot(labels, NUM_CLASSES).to(dtype) * strength


def wrong_labels(y: torch.Tensor, generator: torch.Generator, logits: torch.Tensor | None = None) -> torch.Tensor:
    """Negative labels: never the true one.

    Uniform over the 9 wrong classes, or (``logits`` given: hard negatives) sampled from the
    softmax of the network's own prediction with the true class masked out.
    y: (N,), logits: (N, 10) -> (N,)
    """
    if logits is None:
        offset = torch.randint(1, NUM_CLASSES, y.shape, generator=generator, device=y.device)
        return (y + offset) % NUM_CLASSES
    masked = logits.detach().float().clone()
    masked[torch.arange(len(y), device=y.device), y] = float("-inf")
    probs = torch.softmax(masked, dim=1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


CPU_BF16_UNITS = bool(cpu_bf16_units())  # whether this CPU multiplies bf16 on bf16 units (read once)


def bf16_product(product: Any, *operands: torch.Tensor) -> torch.Tensor:
    """``product(*operands)`` of bfloat16 operands, with a bfloat16 result, as bf16 units compute it
    (float32 accumulation, the result rounded to bf16). On a GPU, or a CPU with bf16 units, it runs so.
    On a CPU without them (an AVX2-only one) torch emulates bf16 products at about 1 GFLOP/s, so the
    operands are widened to float32 and the float32 result rounded to bf16: a product of two bf16
    numbers is exact in float32, so this gives the same numbers up to the order of accumulation, at
    float32 speed. Provenance says which ran (:func:`ffrepro.results.matmul_precision`)."""
    if operands[0].device.type == "cpu" and not CPU_BF16_UNITS:
        return product(*(o.float() for o in operands)).to(torch.bfloat16)
    return product(*operands)


class _Bf16Product(torch.autograd.Function):
    """``x @ w.T + b`` with bfloat16 operands and a float32 result and gradients.

    The products run on bf16 units (float32 accumulation inside the kernel; the result is rounded to
    bf16, then widened; emulated where there are none: :func:`bf16_product`); the bias, and everything
    outside the products, stays float32. The weight
    gradient is a bf16 product too; the input gradient is computed only when asked for (FF's inputs are
    detached, so training never asks; the neutral-goodness inference mode does).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, wb: torch.Tensor) -> torch.Tensor:
        """``wb``: the weight's bf16 copy (:meth:`Bf16Linear.bf16_weight`); ``weight`` itself only takes the
        gradient. x: (..., in) -> (..., out); ``bias`` None: no bias (the recurrent net's top-down maps)."""
        xb = x.to(torch.bfloat16)
        ctx.save_for_backward(xb, wb)
        product = bf16_product(F.linear, xb, wb)
        return product.float() if bias is None else torch.add(product, bias)  # widened to float32 in the same pass as the bias

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        xb, wb = ctx.saved_tensors
        gb = grad.to(torch.bfloat16)
        grad_x = bf16_product(torch.matmul, gb, wb).float() if ctx.needs_input_grad[0] else None
        # leading axes (the recurrent net's label axis) are rows of the weight gradient's product
        grad_w = bf16_product(torch.matmul, gb.reshape(-1, gb.shape[-1]).T, xb.reshape(-1, xb.shape[-1])).float() if ctx.needs_input_grad[1] else None
        grad_b = grad.reshape(-1, grad.shape[-1]).sum(0) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None


class Bf16Linear(nn.Linear):
    """An :class:`nn.Linear` whose products run in bfloat16 (``model.precision = "bf16"``), with float32
    weights, bias and outputs. Its parameters and state dict are nn.Linear's, so a checkpoint loads
    into either."""

    _bf16: tuple[int, torch.Tensor] | None = None  # (the weight's version, its bf16 copy)

    def bf16_weight(self) -> torch.Tensor:
        """The weight's bf16 copy, made once per version of it (an optimiser step or a loaded state
        makes a new one), so the several products of one update share one conversion."""
        if self._bf16 is None or self._bf16[0] != self.weight._version:
            self._bf16 = (self.weight._version, self.weight.detach().to(torch.bfloat16))
        return self._bf16[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Bf16Product.apply(x, self.weight, self.bias, self.bf16_weight())


# model.precision -> the dense layer's class; "auto" is resolved by the runner (ffrepro.methods.run_precision)
# before a trainer is built, so a net built from an unresolved config computes in fp32
DENSE = {"fp32": nn.Linear, "bf16": Bf16Linear, "auto": nn.Linear}


def matmul(a: torch.Tensor, b: torch.Tensor, bf16: bool = False) -> torch.Tensor:
    """``a @ b`` for one seed's (M, K) x (K, N) or stacked seeds' (S, M, K) x (S, K, N) operands, in float32
    or (``bf16``) with bfloat16 operands and a float32 result, as :class:`Bf16Linear` multiplies. Stacked
    on a CPU, one product per seed into one output, since the CPU's batched product splits its threads
    over the batch (3 seeds on 2 cores measured 25 % slower than the products one by one)."""
    if bf16:
        return bf16_product(matmul, a.to(torch.bfloat16), b.to(torch.bfloat16)).float()
    if a.dim() == 2 or a.device.type != "cpu" or torch.compiler.is_compiling():
        return a @ b
    out = a.new_empty(a.shape[0], a.shape[1], b.shape[2])
    for s in range(a.shape[0]):
        torch.mm(a[s], b[s], out=out[s])
    return out


def unlabelled_images(x: torch.Tensor, weight: torch.Tensor, bf16: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What every labelled pass of an update shares in layer 1 (:func:`labelled_first`): the images (..., B, D)
    with their label pixels zeroed, their squared lengths (..., B) and their product with layer 1's weights
    (..., H, D) -> (..., B, H). Leading axes: stacked seeds (:mod:`ffrepro.stacked`)."""
    x0 = x.clone()
    x0[..., :NUM_CLASSES] = 0
    return x0, x0.pow(2).sum(-1), matmul(x0, weight.mT, bf16)


def labelled_first(image_product: torch.Tensor, image_ss: torch.Tensor, pixels: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                   width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer 1's pre-activations for k label sets (..., kB, 10) written into the B images of
    :func:`unlabelled_images`: ``z_j = s_j (u + p_j W[:, :10]^T) + b`` for j = 1..k, stacked, with ``s_j`` each
    row's length-normalisation factor (as :func:`length_normalize` of the labelled row). -> (z (..., kB, H), s (..., kB))"""
    k, lead = pixels.shape[-2] // image_ss.shape[-1], (1,) * (image_ss.dim() - 1)
    scale = 1 / ((image_ss.repeat(*lead, k) + pixels.pow(2).sum(-1)) / width).sqrt().add_(1e-12)
    # the label columns copied into a contiguous (10, H) block first: inside an update, the product
    # with the strided 10-column slice measured about twice as slow as copy and product together
    z = (image_product.repeat(*lead, k, 1) + matmul(pixels, weight[..., :NUM_CLASSES].mT.contiguous())) * scale[..., None] + bias[..., None, :]
    return z, scale


def labelled_first_grad(dz: torch.Tensor, scale: torch.Tensor, x0: torch.Tensor, pixels: torch.Tensor, bf16: bool = False) -> torch.Tensor:
    """The weight gradient of :func:`labelled_first` from its output's gradient ``dz`` (..., kB, H): one
    (H x B) by (B x D) product for all k label sets (the scaled gradients of the k uses of ``u`` summed
    first), plus the label columns' small term. -> (..., H, D)"""
    scaled = dz * scale[..., None]
    grad_w = matmul(scaled.unflatten(-2, (-1, x0.shape[-2])).sum(-3).mT, x0, bf16)  # its label columns are 0 (x0 is 0 there)
    grad_w[..., :NUM_CLASSES] += matmul(pixels.mT, scaled).mT  # (10, kB) x (kB, H): the fast orientation
    return grad_w


def peer_push(mean_activity: torch.Tensor, h_pos: torch.Tensor, strength: float, momentum: float) -> torch.Tensor:
    """Peer normalisation (ffcode's): update each unit's running mean activity in place from the positive
    states ``h_pos`` (..., rows, H), and return the push towards the layer's mean activity, ``strength x
    (mean of the means - each unit's mean)`` (..., H), that the peer term adds to every positive case."""
    mean_activity.mul_(momentum).add_(h_pos.mean(-2), alpha=1 - momentum)
    return strength * (mean_activity.mean(-1, keepdim=True) - mean_activity)


def ff_loss(z: torch.Tensor, h: torch.Tensor, n_pos: int, n: int, threshold: float, sign: float,
            push: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A layer's two loss terms (:meth:`FFLayer.loss_terms`) from its pre-activations ``z`` and states ``h``
    (..., rows, H): rows ``[:n_pos]`` positive, the rest negative, both terms averaged over ``n``; ``push``
    (:func:`peer_push`, None: no peer term) pushes the positive rows' ``z``. Leading axes (stacked seeds,
    :mod:`ffrepro.stacked`) are kept. The one place the loss is computed for a written-out gradient
    (:func:`ff_loss_grad`): the feed-forward update (:func:`layer_grads`) and the recurrent one. -> (goodness (..., rows), logistic loss (...), peer term (...), ``2 dL/dg`` (..., rows))"""
    g = FFLayer.goodness(h)
    # t = +1 on positive rows, -1 on negative ones: each row's loss is softplus(-t * logit)
    t = torch.ones_like(g)
    t[..., n_pos:] = -1.0
    margin = t * (sign * (g - threshold))  # t * logit
    ff = F.softplus(-margin).sum(-1) * (0.5 / n)
    peer = torch.zeros_like(ff) if push is None or not n_pos else -(z[..., :n_pos, :].sum(-2) * push).sum(-1) / n
    return g, ff, peer, -(sign / n) * t * torch.sigmoid(-margin)


def ff_loss_grad(h: torch.Tensor, coef: torch.Tensor, push: torch.Tensor | None, n_pos: int, n: int, through: torch.Tensor | None = None,
                 grad_ff: torch.Tensor | None = None, grad_peer: torch.Tensor | None = None) -> torch.Tensor:
    """The gradient of :func:`ff_loss`'s two terms (times ``grad_ff`` and ``grad_peer``, 1 if None) with
    respect to ``z``: the logistic loss's is ``2 h dL/dg`` row by row, times ``through`` = dh/dz where
    ``h`` is not ``relu(z)`` (the recurrent net's damped states; for a ReLU, ``h`` is 0 where it is off),
    the peer term's ``-push / n`` on every positive row. ``coef``: ``ff_loss``'s ``2 dL/dg``. -> (..., rows, H)"""
    dz = h * (coef if grad_ff is None else coef * grad_ff)[..., None]
    if through is not None:
        dz.mul_(through)
    if push is not None and n_pos:
        dz[..., :n_pos, :].sub_((push if grad_peer is None else push * grad_peer)[..., None, :] / n)  # in place on the view
    return dz


# --- the FF update of a stack of feed-forward layers, written out (issue 28) ---------------------------
# One implementation, for one seed and for several: every tensor carries a leading seeds axis S (one
# seed is a stack of one; ffrepro.stacked keeps the seeds' state). The passes of supervised FF
# (ffrepro.supervised) and unsupervised FF (ffrepro.unsupervised) are built from these. The reference
# they are tested against, autograd through the plain loss in float64, is in tests/reference.py.

FF_STATS = ("ff_loss", "peer_loss", "pos_goodness", "neg_goodness", "neg_beats_pos")

Box = tuple[int, Callable[[torch.Tensor], torch.Tensor]]  # a black box (ffrepro.blackbox): the layer it follows (1-based), and the box
Constants = tuple[float, float, float, float]  # a layer's (threshold, sign, peer normalisation, peer momentum)
States = list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # every layer's (input, pre-activation, states)


def ff_stats_row(ff: torch.Tensor, peer: torch.Tensor, g: torch.Tensor, n_pos: int, n: int) -> torch.Tensor:
    """One layer's :data:`FF_STATS` of an update, each summed over the batch, from its loss terms (...) and
    the goodness of its rows (..., rows), the first ``n_pos`` positive and the rest negative, averaged over
    ``n``: the logistic loss, the peer-normalisation term, positive goodness, negative goodness, and how
    often the negative beat its positive (only where an update sees both). Leading axes (seeds) are
    kept. -> (..., len(FF_STATS))"""
    beats = (g[..., n:] > g[..., :n]).sum(-1).to(g.dtype) if n_pos and g.shape[-1] > n_pos else torch.zeros_like(ff)
    return torch.stack([ff * n, peer * n, g[..., :n_pos].sum(-1), g[..., n_pos:].sum(-1), beats], -1)


def upward(x0: torch.Tensor, z1: torch.Tensor, weights: list[torch.Tensor], biases: list[torch.Tensor], bf16: tuple[bool, ...],
           box: Box | None = None) -> States:
    """The bottom-up pass (:meth:`FFNet.forward`) from layer 1's input ``x0`` and pre-activations ``z1``: each
    layer's input is the length-normalised states of the layer below, or of the black box's output after
    the layer it follows (all seeds' rows at once, as :meth:`FFNet.passed_on` hands it on). ``weights``:
    (S, H, D) each, in bfloat16 where ``bf16`` says the layer's products are. -> [(input, z, h)] per layer"""
    out = [(x0, z1, torch.relu(z1))]
    for i, (w, b) in enumerate(zip(weights[1:], biases[1:]), start=1):
        h = out[-1][2]
        a = length_normalize(box[1](h) if box is not None and box[0] == i else h)
        z = matmul(a, w.mT, bf16[i]).add_(b[:, None, :])
        out.append((a, z, torch.relu(z)))
    return out


def layer_loss(z: torch.Tensor, h: torch.Tensor, n_pos: int, n: int, constants: Constants,
               mean_activity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer's FF loss (:func:`ff_loss`) on each seed's rows ``[:n_pos]`` positive and the rest negative,
    averaged over the batch size ``n`` (phase "both": ``n_pos = n``, 2n rows; "positive": n rows, all
    positive; "negative": ``n_pos = 0``): its gradient with respect to ``z`` (:func:`ff_loss_grad`), the
    running mean activity updated in place from the positive rows (:func:`peer_push`), and the statistics
    (S, len(FF_STATS)). z, h: (S, rows, H) -> (dz (S, rows, H), statistics)"""
    threshold, sign, peer_normalization, momentum = constants
    push = peer_push(mean_activity, h[:, :n_pos], peer_normalization, momentum) if peer_normalization and n_pos else None  # (S, H)
    g, ff, peer, coef = ff_loss(z, h, n_pos, n, threshold, sign, push)
    return ff_loss_grad(h, coef, push, n_pos, n), ff_stats_row(ff, peer, g, n_pos, n)


def layer_grads(states: States, n_pos: int, n: int, mean_activity: list[torch.Tensor], layers: tuple[Constants, ...], bf16: tuple[bool, ...],
                labelled: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """Every layer's weight and bias gradients of its own loss (:func:`layer_loss`) from a pass's :func:`upward`
    states, the first ``n_pos`` rows positive, the running means updated, and the update's statistics
    (S, len(FF_STATS), layers). A layer's input carries no gradient (it is the layer below's, detached),
    so each gradient is local. ``layers``: each layer's constants; ``labelled``: layer 1's (scale, label
    pixels) where it shares the image product (:func:`labelled_first_grad`)."""
    weight_grads, bias_grads, stats = [], [], []
    for i, (a, z, h) in enumerate(states):
        dz, layer_stats = layer_loss(z, h, n_pos, n, layers[i], mean_activity[i])
        weight_grads.append(labelled_first_grad(dz, labelled[0], a, labelled[1], bf16[0]) if i == 0 and labelled is not None else matmul(dz.mT, a, bf16[i]))
        bias_grads.append(dz.sum(1))
        stats.append(layer_stats)
    return weight_grads, bias_grads, torch.stack(stats, -1)


def states(z: torch.Tensor, traced: bool = True) -> torch.Tensor:
    """A layer's ReLU states from its pre-activations; untraced: without a gradient."""
    return torch.relu(z if traced else z.detach())


class FFLayer(nn.Module):
    """A fully connected ReLU layer with its own goodness, threshold and logistic loss."""

    mean_activity: torch.Tensor

    def __init__(self, n_in: int, n_out: int, cfg: FFConfig, connection: nn.Module | None = None):
        super().__init__()
        # the layer's affine map: dense by default, or e.g. locally connected (ffrepro.local)
        self.linear: nn.Module = connection if connection is not None else DENSE[getattr(cfg, "precision", "fp32")](n_in, n_out)
        if connection is None:
            with torch.no_grad():  # ffcode: randn / sqrt(fan-in), zero biases
                self.linear.weight.normal_(0.0, n_in**-0.5)
                self.linear.bias.zero_()
        self.threshold = cfg.threshold_per_unit * n_out
        self.sign = 1.0 if cfg.goodness == "max_ssq" else -1.0
        self.peer_normalization = cfg.peer_normalization
        self.peer_momentum = cfg.peer_momentum
        self.register_buffer("mean_activity", torch.full((n_out,), 0.5))  # peer normalisation state

    def forward(self, x: torch.Tensor, traced: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (N, n_in), already length-normalised -> (pre-activation, ReLU states), each (N, n_out).
        ``traced`` off: the states carry no gradient (the loss differentiates ``z`` itself), so
        the ReLU keeps no copy of them for a backward pass."""
        z = self.linear(x)
        return z, states(z, traced)

    @staticmethod
    def goodness(h: torch.Tensor) -> torch.Tensor:
        """Sum of squared activities. h: (..., N, n_out) -> (..., N)"""
        return h.pow(2).sum(dim=-1)

    def logit(self, g: torch.Tensor) -> torch.Tensor:
        """Log-odds that the input is positive: goodness above ("max ssq") or below ("min ssq") threshold."""
        return self.sign * (g - self.threshold)

    def loss_terms(self, z_pos: torch.Tensor | None, h_pos: torch.Tensor | None, g_pos: torch.Tensor | None, g_neg: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer's two loss terms: (FF logistic loss, peer-normalisation term), from the goodness
        of positive and negative data (:meth:`goodness`, computed once by the caller, which also logs
        it) and the positive pre-activations and states (for the peer term).

        The logistic loss is -log p(pos) - log(1 - p(neg)), halved and averaged over the batch as in
        ffcode. The peer term is a stand-in whose gradient is ffcode's peer-normalisation push; its
        value is not a loss (it can be negative), so it is logged apart.

        A positive-only update ("day", ``g_neg`` None) has the positive half of the logistic loss and
        the peer term; a negative-only update ("night", ``z_pos``, ``h_pos`` and ``g_pos`` None) the
        negative half alone (the running means track positive activity only). Each half keeps its
        factor 1/2, so a day and a night update together move the weights as one interleaved update would.
        """
        ref = g_pos if g_pos is not None else g_neg
        assert ref is not None, "a loss needs positive or negative data"
        n = ref.shape[0]
        zero = torch.zeros((), device=ref.device, dtype=ref.dtype)
        pos = F.softplus(-self.logit(g_pos)).sum() if g_pos is not None else zero
        neg = F.softplus(self.logit(g_neg)).sum() if g_neg is not None else zero
        ff = 0.5 * (pos + neg) / n
        if not self.peer_normalization or z_pos is None or h_pos is None:
            return ff, zero
        with torch.no_grad():
            push = peer_push(self.mean_activity, h_pos, self.peer_normalization, self.peer_momentum)  # (n_out,)
        # gradient descent on this term adds `push` to the ascent direction of every case's input
        return ff, -(z_pos * push).sum() / n

    def loss(self, z_pos: torch.Tensor, h_pos: torch.Tensor, h_neg: torch.Tensor) -> torch.Tensor:
        """What the layer descends: the FF logistic loss plus the peer-normalisation term."""
        ff, peer = self.loss_terms(z_pos, h_pos, self.goodness(h_pos), self.goodness(h_neg))
        return ff + peer


IMAGE_SHAPES = {784: (1, 28, 28), 3072: (3, 32, 32)}  # input width -> (channels, height, width): MNIST, CIFAR-10


def image_shape(n_in: int) -> tuple[int, int, int]:
    """The (C, H, W) of a flattened, channel-major input row of ``n_in`` values."""
    if n_in in IMAGE_SHAPES:
        return IMAGE_SHAPES[n_in]
    side = int(round(n_in**0.5))
    if side * side != n_in:
        raise ValueError(f"cannot lay out {n_in} inputs as an image for locally connected layers")
    return (1, side, side)


def _connections(n_in: int, cfg: FFConfig) -> list[nn.Module | None]:
    """Locally connected maps where the config lists receptive fields, else dense (None)."""
    specs = getattr(cfg, "local", ())
    if not specs:
        return [None] * len(cfg.hidden)
    shape, out = image_shape(n_in), []
    for spec in specs:
        conn = LocallyConnected(shape, spec)
        out.append(conn)
        shape = conn.out_shape
    return out


class FFNet(nn.Module):
    """A stack of FF layers with a softmax readout on the normalised activities of the scored layers."""

    def __init__(self, n_in: int, cfg: FFConfig):
        super().__init__()
        self.cfg = cfg
        sizes = (n_in, *cfg.hidden)
        self.layers = nn.ModuleList(FFLayer(a, b, cfg, c) for a, b, c in zip(sizes[:-1], sizes[1:], _connections(n_in, cfg)))
        box = getattr(cfg, "black_box_after", 0)
        self.box = BlackBox(cfg.hidden[box - 1], kind=cfg.black_box_kind) if box else None  # between layer `box` and the next (issue 11)
        n_read = sum(cfg.hidden[cfg.first_scored_layer :])
        self.readout = nn.Linear(n_read, NUM_CLASSES, bias=False)  # ffcode never updates its bias
        nn.init.zeros_(self.readout.weight)

    def forward(self, x: torch.Tensor | None, detach: bool = True, first: torch.Tensor | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Bottom-up pass. x: (N, n_in) -> [(z, h)] per layer. ``detach`` cuts gradients between layers.
        ``first``: layer 1's pre-activation, already computed (:func:`labelled_first`); x is then unused."""
        out = []
        a = x
        traced = not detach  # cut apart, a layer's loss differentiates its pre-activations itself (ffrepro.memory's autograd step)
        for i, layer in enumerate(self.layers):
            if i == 0 and first is not None:
                z, h = first, states(first, traced)
            else:
                assert a is not None
                a = length_normalize(a)
                z, h = layer(a.detach() if detach else a, traced)
            out.append((z, h))
            a = self.passed_on(i, h)
        return out

    def passed_on(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """What layer ``i`` (0-based) hands to the next layer: its states, or the black box's output."""
        return self.box(h) if self.box is not None and i + 1 == self.cfg.black_box_after else h

    def scored(self, states: list[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
        return [h for _, h in states[self.cfg.first_scored_layer :]]

    def readout_logits(self, states: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Softmax logits from the normalised activities of layers >= first_scored_layer. -> (N, 10)"""
        feats = torch.cat([length_normalize(h) for h in self.scored(states)], dim=1)
        return self.readout(feats)

    def total_goodness(self, states: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Goodness summed over the scored layers, signed so that larger means 'more positive'. -> (N,)"""
        sign = self.layers[0].sign
        return sign * sum(FFLayer.goodness(h) for h in self.scored(states))

    def embed(self, x: torch.Tensor, label: torch.Tensor | None) -> torch.Tensor:
        return embed_label(x, label, self.cfg.label_strength, self.cfg.neutral_label)

    # --- the three inference modes (paper section 3.3) ---------------------------------------
    @torch.no_grad()
    def scores_goodness(self, x: torch.Tensor) -> torch.Tensor:
        """Run once per label; score each label by its accumulated goodness. x: (N, D) -> (N, 10)"""
        n = x.shape[0]
        linear = self.layers[0].linear
        if isinstance(linear, nn.Linear):  # layer 1's image product once for the ten labels (labelled_first)
            x0, image_ss, product = unlabelled_images(x, linear.weight, isinstance(linear, Bf16Linear))
            pixels = label_pixels(torch.arange(NUM_CLASSES, device=x.device).repeat_interleave(n), self.cfg.label_strength, x.dtype)
            g = self.total_goodness(self.forward(None, first=labelled_first(product, image_ss, pixels, linear.weight, linear.bias, x.shape[-1])[0]))
        else:
            labels = torch.arange(NUM_CLASSES, device=x.device).repeat_interleave(n)  # (10N,)
            g = self.total_goodness(self.forward(self.embed(x.repeat(NUM_CLASSES, 1), labels)))
        return g.reshape(NUM_CLASSES, n).T

    @torch.no_grad()
    def scores_softmax(self, x: torch.Tensor) -> torch.Tensor:
        """One pass with the neutral label; the softmax readout's logits. x: (N, D) -> (N, 10)"""
        return self.readout_logits(self.forward(self.embed(x, None)))

    def scores_neutral_goodness(self, x: torch.Tensor) -> torch.Tensor:
        """One pass with the neutral label, scoring goodness: the gradient of the accumulated goodness
        with respect to each label pixel at the neutral input. This is the first-order (Taylor)
        estimate of the per-label goodness of :meth:`scores_goodness` from a single forward and
        backward pass. x: (N, D) -> (N, 10)
        """
        with torch.enable_grad():
            inp = self.embed(x, None).requires_grad_(True)
            g = self.total_goodness(self.forward(inp, detach=False)).sum()
            (grad,) = torch.autograd.grad(g, inp)
        return grad[:, :NUM_CLASSES]


INFERENCE_MODES = {
    "goodness": FFNet.scores_goodness,
    "softmax": FFNet.scores_softmax,
    "neutral_goodness": FFNet.scores_neutral_goodness,
}
