"""Forward-Forward layers and networks (paper sections 2 and 3.3).

Each layer is trained by its own logistic loss on its goodness; its input is the *detached*,
length-normalised activity of the layer below, so one backward call over the summed layer losses
still gives purely local updates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ffrepro.blackbox import BlackBox
from ffrepro.config import FFConfig
from ffrepro.local import LocallyConnected

NUM_CLASSES = 10


def length_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale each row to a mean square of 1 (ffcode's ``ffnormrows``), so its length carries no goodness.

    x: (N, D) -> (N, D)
    """
    return x / (x.pow(2).mean(dim=1, keepdim=True).sqrt() + eps)


def embed_label(x: torch.Tensor, label: torch.Tensor | None, strength: float = 1.0, neutral: float = 0.1) -> torch.Tensor:
    """Overwrite the first 10 pixels with a one-hot label (or ``neutral`` in each if ``label`` is None).

    x: (N, D), label: (N,) -> (N, D)
    """
    out = x.clone()
    if label is None:
        out[:, :NUM_CLASSES] = neutral
    else:
        out[:, :NUM_CLASSES] = F.one_hot(label, NUM_CLASSES).to(x.dtype) * strength
    return out


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


class FFLayer(nn.Module):
    """A fully connected ReLU layer with its own goodness, threshold and logistic loss."""

    mean_activity: torch.Tensor

    def __init__(self, n_in: int, n_out: int, cfg: FFConfig, connection: nn.Module | None = None):
        super().__init__()
        # the layer's affine map: dense by default, or e.g. locally connected (ffrepro.local)
        self.linear: nn.Module = connection if connection is not None else nn.Linear(n_in, n_out)
        if connection is None:
            with torch.no_grad():  # ffcode: randn / sqrt(fan-in), zero biases
                self.linear.weight.normal_(0.0, n_in**-0.5)
                self.linear.bias.zero_()
        self.threshold = cfg.threshold_per_unit * n_out
        self.sign = 1.0 if cfg.goodness == "max_ssq" else -1.0
        self.peer_normalization = cfg.peer_normalization
        self.peer_momentum = cfg.peer_momentum
        self.register_buffer("mean_activity", torch.full((n_out,), 0.5))  # peer normalisation state

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (N, n_in), already length-normalised -> (pre-activation, ReLU states), each (N, n_out)."""
        z = self.linear(x)
        return z, torch.relu(z)

    @staticmethod
    def goodness(h: torch.Tensor) -> torch.Tensor:
        """Sum of squared activities. h: (N, n_out) -> (N,)"""
        return h.pow(2).sum(dim=1)

    def logit(self, g: torch.Tensor) -> torch.Tensor:
        """Log-odds that the input is positive: goodness above ("max ssq") or below ("min ssq") threshold."""
        return self.sign * (g - self.threshold)

    def loss_terms(self, z_pos: torch.Tensor | None, h_pos: torch.Tensor | None, h_neg: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer's two loss terms: (FF logistic loss, peer-normalisation term).

        The logistic loss is -log p(pos) - log(1 - p(neg)), halved and averaged over the batch as in
        ffcode. The peer term is a stand-in whose gradient is ffcode's peer-normalisation push; its
        value is not a loss (it can be negative), so it is logged apart.

        A positive-only update ("day", ``h_neg`` None) has the positive half of the logistic loss and
        the peer term; a negative-only update ("night", ``z_pos`` and ``h_pos`` None) the negative
        half alone (the running means track positive activity only). Each half keeps its factor 1/2,
        so a day and a night update together move the weights as one interleaved update would.
        """
        ref = h_pos if h_pos is not None else h_neg
        assert ref is not None, "a loss needs positive or negative data"
        n = ref.shape[0]
        zero = torch.zeros((), device=ref.device, dtype=ref.dtype)
        pos = F.softplus(-self.logit(self.goodness(h_pos))).sum() if h_pos is not None else zero
        neg = F.softplus(self.logit(self.goodness(h_neg))).sum() if h_neg is not None else zero
        ff = 0.5 * (pos + neg) / n
        if not self.peer_normalization or z_pos is None or h_pos is None:
            return ff, zero
        with torch.no_grad():
            self.mean_activity.mul_(self.peer_momentum).add_(h_pos.mean(0), alpha=1 - self.peer_momentum)
            push = self.peer_normalization * (self.mean_activity.mean() - self.mean_activity)  # (n_out,)
        # gradient descent on this term adds `push` to the ascent direction of every case's input
        return ff, -(z_pos * push).sum() / n

    def loss(self, z_pos: torch.Tensor, h_pos: torch.Tensor, h_neg: torch.Tensor) -> torch.Tensor:
        """What the layer descends: the FF logistic loss plus the peer-normalisation term."""
        ff, peer = self.loss_terms(z_pos, h_pos, h_neg)
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
        self.box = BlackBox(cfg.hidden[box - 1]) if box else None  # between layer `box` and the next (issue 11)
        n_read = sum(cfg.hidden[cfg.first_scored_layer :])
        self.readout = nn.Linear(n_read, NUM_CLASSES, bias=False)  # ffcode never updates its bias
        nn.init.zeros_(self.readout.weight)

    def forward(self, x: torch.Tensor, detach: bool = True) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Bottom-up pass. x: (N, n_in) -> [(z, h)] per layer. ``detach`` cuts gradients between layers."""
        out = []
        a = x
        for i, layer in enumerate(self.layers):
            a = length_normalize(a)
            z, h = layer(a.detach() if detach else a)
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
