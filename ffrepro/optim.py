"""Hinton's optimiser for FF: smoothed gradients, unsmoothed weight decay, a half-constant schedule."""

from __future__ import annotations

from collections.abc import Iterable

import torch


class SmoothedSGD(torch.optim.Optimizer):
    """``g_s <- smoothing * g_s + (1 - smoothing) * grad``; ``w <- w - lr * (g_s + weight_decay * w)``.

    This is ffcode's update (its "delay" is ``smoothing``). The weight decay is applied at every step
    and, unlike ``torch.optim.SGD``'s, does not pass through the smoothing.
    """

    def __init__(self, params: Iterable, lr: float, smoothing: float = 0.9, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, smoothing=smoothing, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        for group in self.param_groups:
            lr, s, wd = group["lr"], group["smoothing"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "smoothed" not in state:
                    state["smoothed"] = torch.zeros_like(p)
                g = state["smoothed"]
                g.mul_(s).add_(p.grad, alpha=1 - s)
                if wd:
                    p.add_(p, alpha=-lr * wd)
                p.add_(g, alpha=-lr)
        return None


def lr_gain(epoch: int, epochs: int) -> float:
    """ffcode's ``epsgain`` for 1-based ``epoch``: 1 for the first half, then linear towards 0."""
    if epoch <= epochs / 2:
        return 1.0
    return (1 + 2 * (epochs - epoch)) / epochs


def set_gain(optimizer: torch.optim.Optimizer, gain: float) -> None:
    for group in optimizer.param_groups:
        group.setdefault("base_lr", group["lr"])
        group["lr"] = group["base_lr"] * gain
