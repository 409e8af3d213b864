"""What every training method shares: the runner's interface, data order, splits, FF bookkeeping."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ffrepro.config import RunConfig
from ffrepro.data import Dataset, Split
from ffrepro.ff import FFLayer, FFNet
from ffrepro.optim import SmoothedSGD

EVAL_CHUNK = 1000  # rows per evaluation forward pass
GOODNESS_SAMPLE = 500  # validation examples whose per-layer goodness is saved for the book


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

    def batches(self) -> int:
        return -(-len(self.train_split) // self.cfg.data.batch_size)

    def minibatches(self) -> list[torch.Tensor]:
        """This epoch's shuffled minibatch indices (the generator's state makes resuming exact)."""
        n = len(self.train_split)
        perm = torch.randperm(n, generator=self.gen, device=self.train_split.y.device)
        return list(perm.split(self.cfg.data.batch_size))

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


FF_STATS = ("ff_loss", "peer_loss", "pos_goodness", "neg_goodness", "neg_beats_pos")


def ff_layer_losses(net: FFNet, states: list[tuple[torch.Tensor, torch.Tensor]], n: int, stats: torch.Tensor) -> torch.Tensor:
    """Sum of every layer's FF loss on a batch whose first ``n`` rows are positive, the rest negative.

    Adds to ``stats`` (len(FF_STATS), layers), each summed over the batch: the logistic loss, the
    peer-normalisation term, positive goodness, negative goodness, and how often the negative beat
    its positive.
    """
    total = torch.zeros((), device=stats.device)
    for i, (layer, (z, h)) in enumerate(zip(net.layers, states)):
        ff, peer = layer.loss_terms(z[:n], h[:n], h[n:])
        total = total + ff + peer
        with torch.no_grad():
            g = FFLayer.goodness(h)
            stats[:, i] += torch.stack([ff.detach() * n, peer.detach() * n, g[:n].sum(), g[n:].sum(), (g[n:] > g[:n]).float().sum()])
    return total


def ff_stats(stats: torch.Tensor, examples: int) -> dict[str, list[float]]:
    """Per-example means of :func:`ff_layer_losses`' statistics, per layer, keyed by :data:`FF_STATS`."""
    return dict(zip(FF_STATS, (stats / examples).tolist()))


@torch.no_grad()
def goodness_sample(net: FFNet, positive: torch.Tensor, negative: torch.Tensor) -> dict[str, Any]:
    """Per-layer goodness of some positive and negative inputs, and the thresholds, for the book."""
    sample = {
        kind: [[round(v, 2) for v in FFLayer.goodness(h).tolist()] for _, h in net.forward(x)]
        for kind, x in (("positive", positive), ("negative", negative))
    }
    return {"goodness_sample": sample, "threshold": [layer.threshold for layer in net.layers]}
