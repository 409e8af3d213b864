"""The backprop baseline (paper section 3.1): a fully connected ReLU net on permutation-invariant MNIST."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ffrepro.blackbox import BlackBox
from ffrepro.config import BoxGradient, BoxKind, BPConfig, RunConfig
from ffrepro.cost import layer_weights
from ffrepro.data import NUM_CLASSES, Dataset
from ffrepro.ff import image_shape
from ffrepro.local import LocallyConnected, LocalSpec
from ffrepro.optim import SmoothedSGD
from ffrepro.stacked import StackedBP
from ffrepro.trainer import EVAL_CHUNK, Trainer, error_rate, local_fields

def mlp(n_in: int, hidden: tuple[int, ...], local: tuple[LocalSpec, ...] = (), box_after: int = 0, box_gradient: BoxGradient = "blocked",
        box_kind: BoxKind = "quantiser") -> nn.Sequential:
    """ReLU layers and a softmax output layer: fully connected, or (``local``) locally connected hidden
    layers with the FF nets' connectivity, trained feed-forward; a :class:`BlackBox` after hidden
    layer ``box_after`` (1-based; 0: none), of ``box_kind``, whose gradient backprop treats as ``box_gradient``."""
    sizes = (n_in, *hidden)
    layers: list[nn.Module] = []
    shape = image_shape(n_in) if local else None
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if local:
            conn = LocallyConnected(shape, local[i])
            shape = conn.out_shape
            layers += [conn, nn.ReLU()]
        else:
            layers += [nn.Linear(a, b), nn.ReLU()]
        if i + 1 == box_after:
            layers.append(BlackBox(b, box_gradient, box_kind))
    return nn.Sequential(*layers, nn.Linear(sizes[-1], NUM_CLASSES))


def flops(n_in: int, cfg: BPConfig) -> dict[str, float]:
    """Analytic FLOPs (2 per multiply-add) per image: ``eval`` one forward pass; ``train`` the forward
    pass, the weight gradients, and the input gradients of every layer but the first."""
    weights = [*layer_weights(n_in, cfg), cfg.hidden[-1] * NUM_CLASSES]
    total = sum(weights)
    return {"train": 2.0 * (3 * total - weights[0]), "eval": 2.0 * total}


class BPTrainer(Trainer):
    """Cross-entropy training of :func:`mlp` by backprop, on the same data pipeline as FF."""

    def __init__(self, cfg: RunConfig, data: Dataset, generator: torch.Generator):
        assert isinstance(cfg.model, BPConfig)
        super().__init__(cfg, data, generator)
        m = cfg.model
        self.net = mlp(data.num_inputs, m.hidden, m.local, m.black_box_after, m.black_box_gradient, m.black_box_kind).to(data.train.x.device)
        o = cfg.optim
        if o.algorithm == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(self.net.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        else:
            self.optimizer = SmoothedSGD(self.net.parameters(), lr=o.lr, smoothing=o.smoothing, weight_decay=o.weight_decay)

    @torch.no_grad()
    def _error(self, x: torch.Tensor, y: torch.Tensor) -> float:
        self.net.eval()
        pred = torch.cat([self.net(x[i : i + EVAL_CHUNK]).argmax(1) for i in range(0, len(y), EVAL_CHUNK)])
        self.net.train()
        return error_rate(pred, y)

    def train_epoch(self, epoch: int, progress: Any = None) -> dict[str, Any]:
        """One epoch through the one update (:class:`ffrepro.stacked.StackedBP`, a stack of one)."""
        return StackedBP([self]).train_epoch(epoch, progress)[0]

    def epoch_log(self, total_loss: torch.Tensor) -> dict[str, Any]:
        """An epoch's log from its summed training loss: the loss per example and the validation error."""
        val = self.data.val.head(self.cfg.data.eval_examples)
        return {"train_loss": total_loss.item() / self.epoch_examples(), "val_error": self._error(val.x, val.y)}

    def evaluate(self) -> dict[str, dict[str, float]]:
        return {name: {"bp": self._error(s.x, s.y)} for name, s in self.eval_splits().items()}

    def extras(self) -> dict[str, Any]:
        """For a locally connected net, a few first-layer receptive fields (as the FF nets keep)."""
        first = self.net[0]
        return {"first_layer_fields": local_fields(first)} if isinstance(first, LocallyConnected) else {}
