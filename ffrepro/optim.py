"""Hinton's optimiser for FF: smoothed gradients, unsmoothed weight decay, a half-constant schedule."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ffrepro.compiled import Compiled


def _one_pass_update(params: list[torch.Tensor], smoothed: list[torch.Tensor], grads: list[torch.Tensor], lr: torch.Tensor,
                     smoothing: float, weight_decay: float) -> None:
    """The update written per tensor for ``torch.compile`` to fuse into one pass over each weight
    (read weight, smoothed gradient and gradient; write weight and smoothed gradient). ``lr`` is a
    tensor, so the schedule's changes do not recompile."""
    for p, g_s, g in zip(params, smoothed, grads):
        g_s.lerp_(g, 1 - smoothing)
        p.mul_(1 - lr * weight_decay).sub_(lr * g_s)


_compiled_update = Compiled(_one_pass_update)


class SmoothedSGD(torch.optim.Optimizer):
    """``g_s <- smoothing * g_s + (1 - smoothing) * grad``; ``w <- w - lr * (g_s + weight_decay * w)``.

    This is ffcode's update (its "delay" is ``smoothing``). The weight decay is applied at every step
    and, unlike ``torch.optim.SGD``'s, does not pass through the smoothing.

    ``fused`` (default) makes each tensor's update three passes over memory instead of four with
    twice the traffic: ``g_s.lerp_(grad, 1 - smoothing)``, then ``w *= 1 - lr * weight_decay`` and
    ``w -= lr * g_s``, each over a whole parameter group at once (``torch._foreach_*``). The same
    arithmetic up to float rounding; ``fused=False`` is the plain per-tensor loop, kept as the
    reference the tests and ``make bench`` compare with. With ``FFREPRO_COMPILE=1`` (:mod:`ffrepro.compiled`)
    the fused step is compiled into one pass over each tensor.
    """

    def __init__(self, params: Iterable, lr: float, smoothing: float = 0.9, weight_decay: float = 0.0, fused: bool = True):
        super().__init__(params, dict(lr=lr, smoothing=smoothing, weight_decay=weight_decay))
        self.fused = fused

    def _smoothed(self, p: torch.Tensor) -> torch.Tensor:
        state = self.state[p]
        if "smoothed" not in state:
            state["smoothed"] = torch.zeros_like(p)
        return state["smoothed"]

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        for group in self.param_groups:
            lr, s, wd = group["lr"], group["smoothing"], group["weight_decay"]
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            smoothed = [self._smoothed(p) for p in params]
            if self.fused and _compiled_update.enabled:
                lr_t = torch.tensor(lr, device=params[0].device)
                _compiled_update(params, smoothed, [p.grad for p in params], lr_t, s, wd)
                continue
            if self.fused:
                torch._foreach_lerp_(smoothed, [p.grad for p in params], 1 - s)
                if wd:
                    torch._foreach_mul_(params, 1 - lr * wd)
                torch._foreach_add_(params, smoothed, alpha=-lr)
                continue
            for p, g in zip(params, smoothed):
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
