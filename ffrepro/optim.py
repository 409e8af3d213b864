"""Hinton's optimiser for FF: smoothed gradients, unsmoothed weight decay, a half-constant schedule."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ffrepro.compiled import Compiled


def _one_pass_update(params: list[torch.Tensor], smoothed: list[torch.Tensor], grads: list[torch.Tensor], lr: torch.Tensor,
                     smoothing: float, weight_decay: float) -> None:
    """:func:`smoothed_step` written per tensor for ``torch.compile`` to fuse into one pass over each weight
    (read weight, smoothed gradient and gradient; write weight and smoothed gradient). ``lr`` is a
    tensor, so the schedule's changes do not recompile."""
    for p, g_s, g in zip(params, smoothed, grads):
        g_s.lerp_(g, 1 - smoothing)
        p.mul_(1 - lr * weight_decay).sub_(lr * g_s)


_compiled_update = Compiled(_one_pass_update)


@torch.no_grad()
def smoothed_step(params: list[torch.Tensor], smoothed: list[torch.Tensor], grads: list[torch.Tensor], lr: float, smoothing: float,
                  weight_decay: float) -> None:
    """ffcode's update of one parameter group, in place: ``g_s <- smoothing * g_s + (1 - smoothing) * grad``,
    then ``w <- w - lr * (g_s + weight_decay * w)``. The weight decay is applied at every step and, unlike
    ``torch.optim.SGD``'s, does not pass through the smoothing.

    The one implementation of the step, for one seed's parameters (:class:`SmoothedSGD`) and for stacked
    seeds' (:mod:`ffrepro.stacked`): three passes over memory per tensor, each over the whole group at once
    (``torch._foreach_*``): ``g_s.lerp_(grad, 1 - smoothing)``, ``w *= 1 - lr * weight_decay``, ``w -= lr * g_s``
    (the per-tensor loop of the formula, the reference in ``tests/test_optim.py``, does four with twice
    the traffic). With ``FFREPRO_COMPILE=1`` (:mod:`ffrepro.compiled`) one compiled pass over each tensor."""
    if _compiled_update.enabled:
        _compiled_update(params, smoothed, grads, torch.tensor(lr, device=params[0].device), smoothing, weight_decay)
        return
    torch._foreach_lerp_(smoothed, grads, 1 - smoothing)
    if weight_decay:
        torch._foreach_mul_(params, 1 - lr * weight_decay)
    torch._foreach_add_(params, smoothed, alpha=-lr)


class SmoothedSGD(torch.optim.Optimizer):
    """ffcode's optimiser (its "delay" is ``smoothing``): :func:`smoothed_step` on each parameter group."""

    def __init__(self, params: Iterable, lr: float, smoothing: float = 0.9, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, smoothing=smoothing, weight_decay=weight_decay))

    def _smoothed(self, p: torch.Tensor) -> torch.Tensor:
        state = self.state[p]
        if "smoothed" not in state:
            state["smoothed"] = torch.zeros_like(p)
        return state["smoothed"]

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                smoothed_step(params, [self._smoothed(p) for p in params], [p.grad for p in params], group["lr"], group["smoothing"], group["weight_decay"])
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
