"""Locally connected layers: every location of a grid has its own weights (no weight sharing).

Used by the local-receptive-field variant of unsupervised FF (paper section 3.2). Activities are
kept flat, channel-major: a layer's output row is (channels, grid, grid) flattened.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class LocalSpec:
    """One locally connected layer: a ``grid`` x ``grid`` array of locations, each seeing a
    ``window`` x ``window`` square of the map below (all its channels) at the given ``stride``,
    with ``channels`` ReLUs per location."""

    grid: int
    window: int
    stride: int
    channels: int
    # zeros added on every side of the map below: with padding = (window - 1) / 2 and stride 1 the grid
    # is the map itself and a border location sees only the part of its window inside the map (CIFAR-10)
    padding: int = 0

    @property
    def units(self) -> int:
        return self.grid * self.grid * self.channels


class LocallyConnected(nn.Module):
    """x: (N, C_in * H * W) flat -> (N, C_out * grid * grid) flat."""

    def __init__(self, in_shape: tuple[int, int, int], spec: LocalSpec, bias: bool = True):
        super().__init__()
        c, h, w = in_shape
        span = h + 2 * spec.padding - spec.window
        if span < 0 or span // spec.stride + 1 != spec.grid or span % spec.stride:
            raise ValueError(
                f"a {spec.window}x{spec.window} window at stride {spec.stride} on a {h}x{w} map padded by {spec.padding} "
                f"does not give a {spec.grid}x{spec.grid} grid that covers it; adjust model.local"
            )
        self.in_shape, self.spec = in_shape, spec
        fan_in = c * spec.window * spec.window
        locations = spec.grid * spec.grid
        self.weight = nn.Parameter(torch.randn(locations, fan_in, spec.channels) / fan_in**0.5)  # (L, F, C_out)
        # (L, C_out); without a bias (top-down maps, whose layer has its bias bottom-up) it is a zero buffer
        if bias:
            self.bias = nn.Parameter(torch.zeros(locations, spec.channels))
        else:
            self.register_buffer("bias", torch.zeros(locations, spec.channels))

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.spec.channels, self.spec.grid, self.spec.grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., C_in * H * W) -> (..., C_out * grid * grid); leading axes are batched together."""
        lead, s = x.shape[:-1], self.spec
        n = x[..., 0].numel()
        maps = F.pad(x.reshape(n, *self.in_shape), (s.padding,) * 4)
        windows = maps.unfold(2, s.window, s.stride).unfold(3, s.window, s.stride)  # a view: (N, C, grid, grid, k, k)
        # one copy into the layout of a batched matmul, one (N x F) @ (F x C_out) product per location;
        # 5x faster on a CPU than F.unfold followed by an einsum (issue 9's 32 x 32 maps, 11 x 11 fields)
        patches = windows.permute(2, 3, 0, 1, 4, 5).reshape(s.grid * s.grid, n, -1)  # (L, N, F)
        out = torch.bmm(patches, self.weight) + self.bias.unsqueeze(1)  # (L, N, C_out)
        return out.permute(1, 2, 0).reshape(*lead, -1)  # channel-major: (..., C_out * L)

    def receptive_field(self, location: int) -> torch.Tensor:
        """Boolean mask over the input (C, H, W) of what ``location`` (row-major in the grid) sees."""
        c, h, w = self.in_shape
        r, col = divmod(location, self.spec.grid)
        mask = torch.zeros(c, h, w, dtype=torch.bool)
        s, k, p = self.spec.stride, self.spec.window, self.spec.padding
        top, left = r * s - p, col * s - p  # the window's corner on the unpadded map (negative in the border)
        mask[:, max(top, 0) : max(top + k, 0), max(left, 0) : max(left + k, 0)] = True
        return mask
