"""The FF layer, network and negative labels (paper sections 2 and 3.3)."""

from __future__ import annotations

import pytest
import torch

from ffrepro.config import FFConfig
from ffrepro.ff import INFERENCE_MODES, FFLayer, FFNet, embed_label, length_normalize, wrong_labels


def small_net(**kw) -> FFNet:
    return FFNet(784, FFConfig(hidden=(32, 24, 16), **kw))


def test_negative_label_never_true_uniform() -> None:
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, 10, (20000,), generator=g)
    neg = wrong_labels(y, g)
    assert (neg != y).all()
    counts = torch.bincount((neg - y) % 10, minlength=10)
    assert counts[0] == 0 and counts[1:].min() > 1800  # all nine wrong labels are used


def test_negative_label_never_true_hard() -> None:
    g = torch.Generator().manual_seed(2)
    y = torch.randint(0, 10, (5000,), generator=g)
    logits = torch.zeros(5000, 10)
    logits[torch.arange(5000), y] = 50.0  # the net is sure of the true label: still never sampled
    logits[:, 3] += 5.0  # and class 3 is the most likely wrong one
    neg = wrong_labels(y, g, logits)
    assert (neg != y).all()
    assert (neg[y != 3] == 3).float().mean() > 0.9


def test_embed_label_one_hot_and_neutral() -> None:
    x = torch.rand(5, 784)
    before = x.clone()
    y = torch.tensor([0, 3, 9, 1, 1])
    pos = embed_label(x, y)
    assert torch.equal(pos[:, :10].argmax(1), y) and torch.equal(pos[:, :10].sum(1), torch.ones(5))
    assert torch.equal(pos[:, 10:], x[:, 10:])
    neutral = embed_label(x, None)
    assert torch.allclose(neutral[:, :10], torch.full((5, 10), 0.1))
    assert torch.equal(x, before)  # the input is not modified in place


def test_length_normalize_mean_square_one() -> None:
    x = torch.rand(7, 50) * 30
    assert torch.allclose(length_normalize(x).pow(2).mean(1), torch.ones(7), atol=1e-5)


@pytest.mark.parametrize("goodness,sign", [("max_ssq", 1.0), ("min_ssq", -1.0)])
def test_goodness_sign(goodness: str, sign: float) -> None:
    layer = FFLayer(4, 10, FFConfig(goodness=goodness))  # threshold = 10 units
    g = torch.tensor([20.0, 5.0])
    p = torch.sigmoid(layer.logit(g))
    if sign > 0:  # max ssq: high goodness means positive
        assert p[0] > 0.99 and p[1] < 0.01
    else:  # min ssq: low goodness means positive
        assert p[0] < 0.01 and p[1] > 0.99


def test_layer_loss_is_local() -> None:
    """The loss of layer k leaves the gradients of every layer below k at zero."""
    net = small_net()
    x = torch.rand(8, 784)
    states = net.forward(torch.cat([net.embed(x, torch.arange(8) % 10), net.embed(x, (torch.arange(8) + 1) % 10)]))
    for k in range(len(net.layers)):
        net.zero_grad(set_to_none=True)
        z, h = states[k]
        net.layers[k].loss(z[:8], h[:8], h[8:]).backward(retain_graph=True)
        for j, layer in enumerate(net.layers):
            grad = layer.linear.weight.grad
            if j < k or j > k:
                assert grad is None or torch.count_nonzero(grad) == 0, (k, j)
            else:
                assert grad is not None and torch.count_nonzero(grad) > 0


def test_state_in_state_dict_and_moves_with_to() -> None:
    net = small_net()
    keys = net.state_dict().keys()
    assert all(f"layers.{i}.mean_activity" in keys for i in range(3))
    assert net.to(torch.float64).layers[0].mean_activity.dtype == torch.float64


def test_peer_normalization_pushes_towards_layer_average() -> None:
    layer = FFLayer(6, 4, FFConfig(peer_normalization=0.5))
    layer.mean_activity.copy_(torch.tensor([0.0, 1.0, 1.0, 2.0]))  # average 1
    x = torch.rand(3, 6)
    z, h = layer(x)
    z0 = z.detach()
    zero = torch.zeros(3, 4)
    layer.peer_momentum = 1.0  # freeze the running mean for this check
    loss = layer.loss(z, zero, zero)  # goodness terms give no gradient through all-zero states
    (grad,) = torch.autograd.grad(loss, z)
    # descent raises the input of the under-active unit 0 and lowers that of the over-active unit 3
    assert (grad[:, 0] < 0).all() and (grad[:, 3] > 0).all() and torch.allclose(grad[:, 1:3], torch.zeros(3, 2))
    del z0


def test_inference_modes_agree_when_label_pixels_decide() -> None:
    """All three modes pick the label whose pixel raises goodness when the net only sees label pixels."""
    net = FFNet(784, FFConfig(hidden=(30, 30), first_scored_layer=0))
    with torch.no_grad():
        for layer in net.layers:
            layer.linear.weight.zero_()
        w = net.layers[0].linear.weight
        w[:10, :10] = torch.eye(10) * torch.linspace(1, 2, 10)  # unit i fires for label i, more for larger i
        net.layers[1].linear.weight[:10, :10] = torch.eye(10)
        net.readout.weight.zero_()
        net.readout.weight[:, :10] = torch.eye(10)  # the softmax reads layer 1's label units
    x = torch.zeros(4, 784)
    for mode, fn in INFERENCE_MODES.items():
        assert (fn(net, x).argmax(1) == 9).all(), mode


def test_logistic_loss_and_peer_term_are_logged_apart() -> None:
    """The FF loss is the logistic loss alone (never negative); the peer term is kept apart, and
    the layer descends their sum."""
    layer = FFLayer(6, 4, FFConfig(peer_normalization=0.5))
    layer.mean_activity.copy_(torch.tensor([0.0, 1.0, 1.0, 2.0]))
    layer.peer_momentum = 1.0  # freeze the running mean so that both calls see the same state
    z, h = layer(torch.rand(5, 6))
    ff, peer = layer.loss_terms(z[:3], h[:3], FFLayer.goodness(h[:3]), FFLayer.goodness(h[3:]))
    assert ff.item() > 0 and peer.item() != 0
    assert torch.allclose(layer.loss(z[:3], h[:3], h[3:]), ff + peer)
    off = FFLayer(6, 4, FFConfig(peer_normalization=0.0))
    z, h = off(torch.rand(5, 6))
    assert off.loss_terms(z[:3], h[:3], FFLayer.goodness(h[:3]), FFLayer.goodness(h[3:]))[1].item() == 0.0
