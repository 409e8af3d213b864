"""Locally connected layers: every location of a grid has its own weights (no weight sharing).

Used by the local-receptive-field variant of unsupervised FF (paper section 3.2) and by the CIFAR-10
nets (section 4). Activities are kept flat, channel-major: a layer's output row is (channels, grid,
grid) flattened.

Two ways to compute the same thing. The parameter is always the compact (locations, fan-in,
channels) weight. *patches*: copy every window out of the input (a view unfolded, then one copy)
and multiply each location's patches by its own weights in one batched matmul. *dense*: scatter the
weights into the (out units x in units) matrix they are a sparse part of, and do one ordinary
matmul. Dense does in_units / fan_in times the multiply-adds (8.5x for CIFAR-10's 11 x 11 windows
on a 32 x 32 map), but patches is bound by the memory traffic of the copy (each input value is
copied window^2 times, and each copied value is used for only ``channels`` multiply-adds), so dense
is the faster of the two when that ratio is small: :data:`DENSE_MAX_RATIO`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# Dense when it does at most this many times the necessary multiply-adds. Measured on the project's
# 2-core AMD EPYC (`make bench`, CIFAR-10 geometry, 8.5x the multiply-adds, batch 100): dense 6x faster
# forward, as fast for one forward and weight gradient per weight version (a BP step), 2.7x faster for
# ten forwards and a weight gradient (a recurrent FF step; 4.9x at 200 rows, a positive and a negative video).
DENSE_MAX_RATIO = 16.0


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

    def weights(self, in_channels: int) -> int:
        """Weights of this layer over a map of ``in_channels`` channels: locations x patch x channels
        (the border's weights onto the padding included), as its :class:`LocallyConnected` holds."""
        return self.grid * self.grid * in_channels * self.window * self.window * self.channels


def computed_dense(in_shape: tuple[int, int, int], spec: LocalSpec) -> bool:
    """Whether a :class:`LocallyConnected` map of ``spec`` over ``in_shape`` (C, H, W) multiplies by its dense
    matrix: at most :data:`DENSE_MAX_RATIO` times the necessary multiply-adds (input units per fan-in)."""
    _, h, w = in_shape
    return h * w / (spec.window * spec.window) <= DENSE_MAX_RATIO


def map_shapes(in_shape: tuple[int, int, int], specs: tuple[LocalSpec, ...]) -> list[tuple[int, int, int]]:
    """The input's (C, H, W), then the (C, H, W) of each locally connected layer of ``specs`` in turn."""
    return [in_shape] + [(s.channels, s.grid, s.grid) for s in specs]


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
        self.dense = computed_dense(in_shape, spec)
        if self.dense:  # where each compact weight goes in the dense matrix; padding goes to a spare column
            self.register_buffer("dense_index", self._dense_index(), persistent=False)
        self._dense_cache: tuple[tuple[int, int, bool], torch.Tensor] | None = None

    def _dense_index(self) -> torch.Tensor:
        """(L, F, C_out) flat positions in an (out units, in units + 1) matrix, rows channel-major
        (c_out * L + location); a weight that sees the zero padding goes to its row's last column."""
        c, h, w = self.in_shape
        s = self.spec
        locations = s.grid * s.grid
        pixels = torch.arange(c * h * w).view(c, h, w).float()
        spare = c * h * w
        padded = F.pad(pixels.unsqueeze(0), (s.padding,) * 4, value=-1.0)[0]  # -1 marks padding
        windows = padded.unfold(1, s.window, s.stride).unfold(2, s.window, s.stride)  # (C, grid, grid, k, k)
        cols = windows.permute(1, 2, 0, 3, 4).reshape(locations, -1).long()  # (L, F): which input each weight sees
        cols = torch.where(cols < 0, spare, cols)
        rows = torch.arange(s.channels).view(1, 1, -1) * locations + torch.arange(locations).view(-1, 1, 1)  # (L, 1, C_out)
        return rows * (spare + 1) + cols.unsqueeze(-1)

    def dense_weight(self) -> torch.Tensor:
        """The (out units, in units) matrix this layer multiplies by; differentiable in ``weight``.

        Built once per value of the weights and reused: a recurrent net calls a layer about ten times
        per minibatch with the same weights. The cache is keyed by the weight's version counter (an
        optimiser step or a load bumps it), its storage and the grad mode, and is dropped once a
        backward pass has gone through it (its graph is then freed).
        """
        key = (self.weight._version, self.weight.data_ptr(), torch.is_grad_enabled())
        if self._dense_cache is not None and self._dense_cache[0] == key:
            return self._dense_cache[1]
        dense = self._build_dense()
        if dense.requires_grad:
            dense.register_hook(self._drop_cache)
        self._dense_cache = (key, dense)
        return dense

    def _drop_cache(self, grad: torch.Tensor) -> None:
        self._dense_cache = None

    def _build_dense(self) -> torch.Tensor:
        return self.scatter_dense(self.weight)

    def scatter_dense(self, weight: torch.Tensor) -> torch.Tensor:
        """Compact weights (..., L, F, C_out) scattered into the (..., out units, in units) matrix they are a
        sparse part of; differentiable in ``weight``. Leading axes: stacked seeds (:mod:`ffrepro.stacked`)."""
        c, h, w = self.in_shape
        lead = weight.shape[:-3]
        flat = weight.new_zeros(*lead, self.spec.units * (c * h * w + 1)).index_copy(-1, self.dense_index.flatten(), weight.flatten(-3))
        return flat.view(*lead, self.spec.units, -1)[..., :-1]

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.spec.channels, self.spec.grid, self.spec.grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., C_in * H * W) -> (..., C_out * grid * grid); leading axes are batched together."""
        if self.dense:
            return F.linear(x, self.dense_weight(), self.bias.T.flatten())
        return self.forward_patches(x)

    def forward_patches(self, x: torch.Tensor) -> torch.Tensor:
        """The same map through copied windows and a batched matmul (see the module's docstring)."""
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
