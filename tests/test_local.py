"""Locally connected layers with CIFAR-10's geometry (issue 9): 32 x 32 maps, 3 ReLUs per location,
11 x 11 receptive fields, zero padding at the borders."""

from __future__ import annotations

import pytest
import torch

from ffrepro.local import LocallyConnected, LocalSpec

CIFAR_LC = LocalSpec(grid=32, window=11, stride=1, channels=3, padding=5)


def test_a_unit_depends_only_on_its_11x11_patch_borders_included() -> None:
    torch.manual_seed(0)
    layer = LocallyConnected((3, 32, 32), CIFAR_LC)
    assert layer.weight.shape == (32 * 32, 3 * 11 * 11, 3)  # 363 inputs per unit, no sharing
    x = torch.rand(1, 3 * 32 * 32)
    base = layer(x).view(3, 32 * 32)
    for r, c in ((0, 0), (0, 31), (16, 16), (31, 5), (5, 27)):
        location = r * 32 + c
        inside = layer.receptive_field(location)  # (3, 32, 32)
        rows = torch.arange(32)
        expected = ((rows - r).abs() <= 5)[:, None] & ((rows - c).abs() <= 5)[None, :]
        assert torch.equal(inside[0], expected) and torch.equal(inside[2], expected)  # clipped at the borders
        for flat in (int(inside.flatten().nonzero()[0]), int(inside.flatten().nonzero()[-1]),
                     int((~inside).flatten().nonzero()[0]), int((~inside).flatten().nonzero()[-1])):
            y = x.clone()
            y[0, flat] += 1.0
            changed = (layer(y).view(3, 32 * 32) - base)[:, location].abs().max() > 0
            assert bool(changed) == bool(inside.flatten()[flat]), (r, c, flat)


def test_leading_axes_are_batched() -> None:
    layer = LocallyConnected((3, 32, 32), CIFAR_LC)
    x = torch.rand(2, 4, 3 * 32 * 32)
    assert torch.allclose(layer(x), layer(x.view(8, -1)).view(2, 4, -1), atol=1e-6)


def test_padding_must_fit_the_grid() -> None:
    with pytest.raises(ValueError, match="padded by 4 does not give a 32x32 grid"):
        LocallyConnected((3, 32, 32), LocalSpec(grid=32, window=11, stride=1, channels=3, padding=4))


def _cifar_recurrent(depth: int = 2):
    from ffrepro.config import RecurrentFFConfig
    from ffrepro.recurrent import RecurrentFFNet

    cfg = RecurrentFFConfig(hidden=(CIFAR_LC.units,) * depth, local=(CIFAR_LC,) * depth)
    torch.manual_seed(0)
    return RecurrentFFNet(3 * 32 * 32, cfg)


def test_recurrent_net_with_local_maps_has_the_papers_connectivity() -> None:
    """Each hidden unit: 363 bottom-up inputs, 363 top-down inputs from the map above (11 x 11 x 3),
    the last layer 10 top-down inputs from the label instead (paper section 4)."""
    from ffrepro.recurrent import flops

    net = _cifar_recurrent(3)
    assert [layer.linear.weight.shape for layer in net.layers] == [(1024, 363, 3)] * 3
    assert [tuple(d.weight.shape) for d in net.top_down] == [(1024, 363, 3), (1024, 363, 3), (3072, 10)]
    assert all(isinstance(d.bias, torch.Tensor) and not d.bias.requires_grad for d in net.top_down[:-1])
    f = flops(3072, net.cfg)
    per_map = 1024 * 363 * 3
    assert f["eval"] == 2.0 * (per_map + 2 * per_map + 10 * 8 * (2 * per_map + 2 * per_map + 10 * 3072))


@torch.no_grad()
def test_top_down_input_is_local_too() -> None:
    """Perturb one location of the map above: the top-down input of the layer below changes only
    within 5 pixels of it. (Through a whole step every unit moves a little, since the state above is
    length-normalised as a whole first.)"""
    net = _cifar_recurrent(2)
    down = net.top_down[0]
    above = torch.rand(1, 3072)
    bumped = above.clone()
    bumped[0, 1 * 1024 + 10 * 32 + 20] += 5.0  # channel 1, row 10, column 20 of layer 2
    diff = (down(above) - down(bumped)).abs().view(3, 32, 32).amax(0) > 0
    rows, cols = torch.nonzero(diff, as_tuple=True)
    assert len(rows) == 11 * 11 and (rows - 10).abs().max() == 5 and (cols - 20).abs().max() == 5


def test_backprop_baseline_with_the_same_local_connectivity() -> None:
    """BP's hidden layers are the FF nets' locally connected maps; gradients reach the first of them."""
    from ffrepro.bp import mlp

    torch.manual_seed(0)
    net = mlp(3072, (CIFAR_LC.units,) * 2, (CIFAR_LC,) * 2)
    assert [tuple(m.weight.shape) for m in net if hasattr(m, "weight")] == [(1024, 363, 3), (1024, 363, 3), (10, 3072)]
    x = torch.rand(4, 3072)
    torch.nn.functional.cross_entropy(net(x), torch.tensor([0, 1, 2, 3])).backward()
    assert net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0


def test_backprop_local_config_must_match_hidden() -> None:
    from ffrepro.config import BPConfig, ConfigError, RunConfig, validate

    with pytest.raises(ConfigError, match="must equal the sizes of model.local"):
        validate(RunConfig(method="bp", model=BPConfig(hidden=(100, 100), local=(CIFAR_LC, CIFAR_LC))))
