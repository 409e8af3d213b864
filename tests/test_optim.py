"""ffcode's optimiser and learning-rate schedule."""

from __future__ import annotations

import torch

from ffrepro.optim import SmoothedSGD, lr_gain


def test_lr_gain_constant_then_linear() -> None:
    gains = [lr_gain(e, 60) for e in range(1, 61)]
    assert gains[:30] == [1.0] * 30
    assert gains[-1] == 1 / 60 and all(a > b for a, b in zip(gains[30:], gains[31:]))


def test_smoothed_sgd_matches_the_formula() -> None:
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = SmoothedSGD([w], lr=0.1, smoothing=0.9, weight_decay=0.01)
    smoothed = torch.zeros(2)
    expected = w.detach().clone()
    for grad in (torch.tensor([1.0, 2.0]), torch.tensor([-3.0, 0.5])):
        w.grad = grad.clone()
        opt.step()
        smoothed = 0.9 * smoothed + 0.1 * grad
        expected = expected - 0.1 * 0.01 * expected - 0.1 * smoothed
        assert torch.allclose(w.detach(), expected)
