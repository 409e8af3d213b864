"""A black box inside the network (issue 11): a step that no learner can differentiate.

The blog post the project grew from says that FF, unlike backprop, can learn through a part of the
net whose workings it does not know. :class:`BlackBox` sits between two hidden layers and quantises
their activity in numpy, outside autograd: each unit's activity, in units of its row's root mean
square, is rounded down to a multiple of the unit's own fixed random step (one draw per unit from
the box's seed, between 0.25 and 1). FF learns through it unchanged: every layer's input is detached
anyway. Backprop cannot: with ``gradient="blocked"`` no gradient reaches the layers below the box,
so only the layers above it learn; ``"straight_through"`` passes the gradient through as if the box
were the identity (the straight-through estimator), the fair comparison for a box that is close to the
identity, as the quantiser is. The ``"scrambled"`` box (issue 31) first permutes its units at random and
flips the signs of half of them, both fixed, then quantises: it keeps as much of what passes through it,
but the identity is now the wrong surrogate for its derivative.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ffrepro.config import BOX_GRADIENTS, BOX_KINDS, BoxGradient, BoxKind

BOX_SEED = 12345  # the box is part of the net, the same for every run and seed


class BlackBox(nn.Module):
    """A fixed random quantiser of ``units`` activities (``kind`` "scrambled": of the units permuted, half of
    them sign-flipped), computed in numpy, row by row. (..., units) -> (..., units)"""

    step: torch.Tensor

    def __init__(self, units: int, gradient: BoxGradient = "blocked", kind: BoxKind = "quantiser", seed: int = BOX_SEED):
        super().__init__()
        if gradient not in BOX_GRADIENTS:
            raise ValueError(f"black box gradient must be one of {', '.join(BOX_GRADIENTS)}, not {gradient!r}")
        if kind not in BOX_KINDS:
            raise ValueError(f"black box kind must be one of {', '.join(BOX_KINDS)}, not {kind!r}")
        self.gradient, self.kind = gradient, kind
        rng = np.random.default_rng(seed)
        steps = rng.uniform(0.25, 1.0, units).astype(np.float32)
        self.register_buffer("step", torch.from_numpy(steps), persistent=False)
        # (drawn after the steps, so the quantiser's steps are the same for both kinds)
        self.order = rng.permutation(units) if kind == "scrambled" else None
        self.signs = np.where(rng.random(units) < 0.5, -1.0, 1.0).astype(np.float32) if kind == "scrambled" else None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = h.detach().cpu().numpy()
        if self.order is not None:
            x = x[..., self.order] * self.signs
        rms = np.sqrt((x * x).mean(axis=-1, keepdims=True)) + 1e-8
        step = self.step.cpu().numpy() * rms
        out = torch.from_numpy(np.floor(x / step) * step).to(h.device, h.dtype)  # no grad_fn: a dead end for autograd
        return h + (out - h).detach() if self.gradient == "straight_through" else out
