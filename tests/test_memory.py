"""The layer-streaming FF step (issue 11): each layer runs forward, back-propagates its own loss and
hands on only its detached output, so at most one layer's saved activations are alive; it gives the
same weights as ffcode's joint step."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ffrepro.config import FFConfig, RunConfig, OptimConfig
from ffrepro.ff import FFNet
from ffrepro.trainer import FF_STATS, ff_optimizer, ff_step


class SavedTensors:
    """Counts the bytes autograd saves for backward and still holds, and their peak."""

    def __init__(self) -> None:
        self.live = self.peak = 0

    def _pack(self, t: torch.Tensor) -> "_Held":
        return _Held(t, self)

    @staticmethod
    def _unpack(held: "_Held") -> torch.Tensor:
        return held.t

    def hooks(self) -> torch.autograd.graph.saved_tensors_hooks:
        return torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)


class _Held:
    """One saved tensor. It keeps a detached alias (same storage): holding the tensor itself would
    tie a saved output to its own graph in a reference cycle that only the garbage collector frees."""

    def __init__(self, t: torch.Tensor, counter: SavedTensors):
        self.t, self.counter, self.bytes = t.detach(), counter, t.numel() * t.element_size()
        counter.live += self.bytes
        counter.peak = max(counter.peak, counter.live)

    def __del__(self) -> None:
        self.counter.live -= self.bytes


def _net_and_optimizer(depth: int, width: int = 64, peer: float = 0.03) -> tuple[FFNet, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = FFConfig(hidden=(width,) * depth, peer_normalization=peer, first_scored_layer=0)
    net = FFNet(784, model)
    cfg = RunConfig(method="ff-supervised", model=model, optim=OptimConfig(lr=0.05))
    return net, ff_optimizer(net, cfg, with_readout=False)


@pytest.mark.parametrize("phase", ["both", "positive", "negative"])
def test_streaming_step_gives_the_joint_steps_weights(phase: str) -> None:
    x = torch.rand(6, 40, 784, generator=torch.Generator().manual_seed(1))
    weights = {}
    for streaming in (False, True):
        net, opt = _net_and_optimizer(depth=3)
        stats = torch.zeros(len(FF_STATS), 3)
        for batch in x:
            ff_step(net, opt, batch, 20 if phase == "both" else 40, stats, phase, streaming=streaming)
        weights[streaming] = ([p.detach().clone() for p in net.parameters()], stats)
    (joint, joint_stats), (streamed, streamed_stats) = weights[False], weights[True]
    assert any(not torch.equal(p, q) for p, q in zip(joint, _net_and_optimizer(depth=3)[0].parameters()))  # it learned
    for p, q in zip(joint, streamed):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(joint_stats, streamed_stats, rtol=1e-6, atol=1e-5)


def test_streaming_step_holds_one_layers_activations() -> None:
    """Peak bytes saved for backward during one update: the joint step holds every layer's, the
    streaming step one layer's (every layer as wide as the image, so all hold the same)."""
    x = torch.rand(100, 784, generator=torch.Generator().manual_seed(1))
    peaks = {}
    for depth in (1, 4):
        for streaming in (False, True):
            net, opt = _net_and_optimizer(depth, width=784)
            counter = SavedTensors()
            with counter.hooks():
                ff_step(net, opt, x, 50, torch.zeros(len(FF_STATS), depth), streaming=streaming)
            assert counter.live == 0  # everything saved was freed by the backward
            peaks[(depth, streaming)] = counter.peak
    one_layer = peaks[(1, False)]
    assert peaks[(1, True)] == one_layer
    assert peaks[(4, True)] == one_layer
    assert peaks[(4, False)] == 4 * one_layer
