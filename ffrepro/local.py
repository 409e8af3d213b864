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

    @property
    def units(self) -> int:
        return self.grid * self.grid * self.channels


class LocallyConnected(nn.Module):
    """x: (N, C_in * H * W) flat -> (N, C_out * grid * grid) flat."""

    def __init__(self, in_shape: tuple[int, int, int], spec: LocalSpec):
        super().__init__()
        c, h, w = in_shape
        if (h - spec.window) // spec.stride + 1 != spec.grid or (h - spec.window) % spec.stride:
            raise ValueError(
                f"a {spec.window}x{spec.window} window at stride {spec.stride} on a {h}x{w} map does not give a "
                f"{spec.grid}x{spec.grid} grid that covers it; adjust model.local"
            )
        self.in_shape, self.spec = in_shape, spec
        fan_in = c * spec.window * spec.window
        locations = spec.grid * spec.grid
        self.weight = nn.Parameter(torch.randn(locations, fan_in, spec.channels) / fan_in**0.5)  # (L, F, C_out)
        self.bias = nn.Parameter(torch.zeros(locations, spec.channels))

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.spec.channels, self.spec.grid, self.spec.grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        patches = F.unfold(x.reshape(n, *self.in_shape), self.spec.window, stride=self.spec.stride)  # (N, F, L)
        out = torch.einsum("nfl,lfo->nol", patches, self.weight) + self.bias.T  # (N, C_out, L)
        return out.reshape(n, -1)

    def receptive_field(self, location: int) -> torch.Tensor:
        """Boolean mask over the input (C, H, W) of what ``location`` (row-major in the grid) sees."""
        c, h, w = self.in_shape
        r, col = divmod(location, self.spec.grid)
        mask = torch.zeros(c, h, w, dtype=torch.bool)
        s, k = self.spec.stride, self.spec.window
        mask[:, r * s : r * s + k, col * s : col * s + k] = True
        return mask
