"""A black box inside the network (issue 11): a quantiser computed in numpy between two hidden layers.
Backprop gets no gradient below it (unless told to pass it straight through); FF's layers below it
still learn, since FF never sends gradients between layers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ffrepro.blackbox import BlackBox
from ffrepro.bp import mlp
from ffrepro.config import BPConfig, ConfigError, FFConfig, OptimConfig, RunConfig, validate
from ffrepro.ff import FF_STATS, FFNet, length_normalize
from ffrepro.memory import ff_step
from ffrepro.trainer import ff_optimizer


def test_the_box_quantises_outside_autograd() -> None:
    h = torch.rand(5, 30, requires_grad=True)
    out = BlackBox(30)(h)
    assert out.grad_fn is None and not out.requires_grad  # a dead end for backprop
    assert not torch.equal(out, h.detach()) and (out <= h.detach() + 1e-6).all()  # rounded down
    assert torch.equal(BlackBox(30)(h), out)  # fixed: the same box every time
    through = BlackBox(30, "straight_through")(h)
    assert torch.equal(through.detach(), out)
    (g,) = torch.autograd.grad(through.sum(), h)
    assert torch.equal(g, torch.ones_like(h))  # the identity's gradient


def test_the_scrambled_box_quantises_its_units_permuted_and_sign_flipped() -> None:
    """The scrambled box (issue 31) is the quantiser, with the same steps, of its input permuted and half
    sign-flipped, both fixed; a straight-through gradient takes it as the identity, which it is not."""
    h = torch.rand(5, 30, generator=torch.Generator().manual_seed(0), requires_grad=True)
    box = BlackBox(30, "straight_through", "scrambled")
    assert sorted(box.order.tolist()) == list(range(30)) and box.order.tolist() != list(range(30))
    assert set(box.signs.tolist()) == {-1.0, 1.0}
    scrambled = h.detach()[:, torch.from_numpy(box.order)] * torch.from_numpy(box.signs)
    blocked = BlackBox(30, kind="scrambled")(h)  # a new box of the same kind: the same draw
    torch.testing.assert_close(blocked, BlackBox(30)(scrambled))  # (the row's RMS summed in another order)
    assert torch.equal(box.step, BlackBox(30).step)
    out = box(h)
    torch.testing.assert_close(out.detach(), blocked)  # (h + (box - h): equal up to float rounding)
    (g,) = torch.autograd.grad(out.sum(), h)
    assert torch.equal(g, torch.ones_like(h))
    with pytest.raises(ValueError, match="black box kind must be one of quantiser, scrambled"):
        BlackBox(30, kind="shuffled")  # type: ignore[arg-type]
    cfg = RunConfig(method="bp", model=BPConfig(hidden=(40, 40, 40), black_box_after=2, black_box_kind="shuffled"), optim=OptimConfig())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="model.black_box_kind must be quantiser or scrambled, not 'shuffled'"):
        validate(cfg)


def _bp_moved(gradient: str) -> list[bool]:
    """Which parameters of a 3-layer net with a box after layer 2 moved in three Adam steps."""
    torch.manual_seed(0)
    net = mlp(784, (40, 40, 40), box_after=2, box_gradient=gradient)  # type: ignore[arg-type]
    before = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, y = torch.rand(64, 784), torch.randint(0, 10, (64,))
    for _ in range(3):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()
    return [not torch.equal(a, b) for a, b in zip(before, net.parameters())]


def test_backprop_stops_at_the_box_unless_passed_straight_through() -> None:
    # parameters: w1, b1, w2, b2, [the box], w3, b3, w_out, b_out
    assert _bp_moved("blocked") == [False, False, False, False, True, True, True, True]
    assert all(_bp_moved("straight_through"))


def test_ff_layers_below_the_box_still_learn() -> None:
    for stepping in ("joint", "streaming", "layerwise"):
        torch.manual_seed(0)
        model = FFConfig(hidden=(40, 40, 40), black_box_after=2)
        net = FFNet(784, model)
        before = [layer.linear.weight.detach().clone() for layer in net.layers]
        opt = ff_optimizer(net, RunConfig(method="ff-supervised", model=model, optim=OptimConfig(lr=0.05)), with_readout=False)
        for _ in range(3):
            ff_step(net, opt, torch.rand(64, 784), 32, torch.zeros(len(FF_STATS), 3), stepping=stepping)
        assert all(not torch.equal(b, layer.linear.weight) for b, layer in zip(before, net.layers))
        states = net.forward(torch.rand(8, 784))
        _, h3 = net.layers[2](length_normalize(net.box(states[1][1])))  # the third layer sees the box's output
        assert torch.equal(states[2][1], h3) and not torch.equal(h3, net.layers[2](length_normalize(states[1][1]))[1])


@pytest.mark.parametrize("sets,match", [
    (dict(model=BPConfig(hidden=(40, 40), black_box_after=2)), "black_box_after must sit between two hidden layers"),
    (dict(model=BPConfig(hidden=(40, 40), black_box_after=1, black_box_gradient="guess")), "black_box_gradient must be blocked or straight_through"),
])
def test_bad_boxes_are_refused(sets: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        validate(RunConfig(method="bp", optim=OptimConfig(algorithm="adam", lr=0.001), **sets))
