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
