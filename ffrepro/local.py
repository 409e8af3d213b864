"""Locally connected layers: every location of a grid has its own weights (no weight sharing).

Used by the local-receptive-field variant of unsupervised FF (paper section 3.2) and by the CIFAR-10
nets (section 4). Activities are kept flat, channel-major: a layer's output row is (channels, grid,
grid) flattened.

Three ways to compute the same thing. The parameter is always the compact (locations, fan-in,
channels) weight. *patches*: copy every window out of the input (a view unfolded, then one copy)
and multiply each location's patches by its own weights in one batched matmul. *dense*: scatter the
weights into the (out units x in units) matrix they are a sparse part of, and do one ordinary
matmul. Dense does in_units / fan_in times the multiply-adds (8.5x for CIFAR-10's 11 x 11 windows
on a 32 x 32 map), but patches is bound by the memory traffic of the copy (each input value is
copied window^2 times, and each copied value is used for only ``channels`` multiply-adds), so dense
is the faster of the two when that ratio is small: :data:`DENSE_MAX_RATIO`. *tiles* (issue 29):
neighbouring locations share most of their window, so a square tile of locations (:class:`Tiling`)
sees one input block only a little larger than one window; the tile's weights are scattered into a
dense (block units x tile output units) matrix and every tile is one product of a batched matmul
(CIFAR-10, 8 x 8 locations: an 18 x 18 x 3 block, a 972 x 192 matrix, 2.7x the necessary
multiply-adds instead of 8.5x). :func:`computation_for` picks one of the three for a map.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

# Dense when it does at most this many times the necessary multiply-adds. Measured on the project's
# 2-core AMD EPYC (`make bench`, CIFAR-10 geometry, 8.5x the multiply-adds, batch 100): dense 6x faster
# forward, as fast for one forward and weight gradient per weight version (a BP step), 2.7x faster for
# ten forwards and a weight gradient (a recurrent FF step; 4.9x at 200 rows, a positive and a negative video).
# (Issue 29 mended the patches' backward, :class:`_ContiguousGradient`; measured again as in
# :func:`computation_for`, dense against patches: forward 5-6x, forward + weight gradient 1.0x at 100 rows and
# 1.6-1.9x at 200, recurrent step 2.0x and 2.8x. Stacked seeds use the dense matrix within this ratio.)
DENSE_MAX_RATIO = 16.0
# Tiles instead of dense where the dense matrix does at least this many times the multiply-adds of the
# tiles' block matrices: below CIFAR-10's 3.2x (tiles measured 1.9-4.2x as fast for a recurrent step), its
# smoke maps' 10x and the 9 x 9, one-channel test maps' 4x (3.7x as fast, tests/test_stacked.py's); no map in
# between was measured (see :func:`computation_for`).
TILES_MIN_SAVING = 2.5
# Locations per side of a tile, at most the grid. CIFAR-10's map, a recurrent FF step, default (2) threads,
# one process, interleaved (as in :func:`computation_for`): at 100 rows 8 x 8 tiles 1.9x and 4.2x as fast as
# the dense matrix in two runs, 4 x 4 tiles 2.1x and 2.6x, 16 x 16 1.6x; at 200 rows 8 x 8 2.1x, 4 x 4 1.9x
# (one thread: 3.7x, 4.6x and 2.1x at 100 rows).
TILE_SIDE = 8
# At most this many gathered block values per tiles' product (64 MiB in float32); more rows go through in
# chunks. The blocks are 5x the input (CIFAR-10: 15,552 values per row): the test of every label on a
# 1,000-image chunk (10,000 rows) would otherwise gather 622 MB at once, where the dense way holds none.
TILE_GATHER_MAX = 1 << 24

Computation = Literal["dense", "tiles", "patches"]


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


@dataclass(frozen=True)
class Tiling:
    """The grid cut into ``per_side`` x ``per_side`` square tiles of ``side`` x ``side`` locations (the
    last row and column of tiles run past the grid when ``side`` does not divide it: those locations
    have no weights and their outputs are dropped). A tile's windows cover a ``block`` x ``block``
    square of the padded map, and the next tile's block starts ``step`` further on."""

    side: int
    per_side: int
    block: int
    step: int

    @classmethod
    def of(cls, spec: LocalSpec, side: int = TILE_SIDE) -> "Tiling":
        side = min(side, spec.grid)
        return cls(side, -(-spec.grid // side), (side - 1) * spec.stride + spec.window, side * spec.stride)

    @property
    def tiles(self) -> int:
        return self.per_side * self.per_side

    def block_units(self, in_channels: int) -> int:
        return in_channels * self.block * self.block

    def macs(self, in_channels: int, out_channels: int) -> int:
        """Multiply-adds per input row: every tile's (block units x tile outputs) product."""
        return self.tiles * self.block_units(in_channels) * self.side * self.side * out_channels


def computed_dense(in_shape: tuple[int, int, int], spec: LocalSpec) -> bool:
    """Whether the dense matrix of a :class:`LocallyConnected` map of ``spec`` over ``in_shape`` (C, H, W) is
    small enough to multiply by: at most :data:`DENSE_MAX_RATIO` times the necessary multiply-adds (input
    units per fan-in). Stacked seeds (:mod:`ffrepro.stacked`) multiply by it wherever it is; one map alone
    uses :func:`computation_for`, which may choose tiles instead."""
    _, h, w = in_shape
    return h * w / (spec.window * spec.window) <= DENSE_MAX_RATIO


def computation_for(in_shape: tuple[int, int, int], spec: LocalSpec) -> Computation:
    """How a :class:`LocallyConnected` map of ``spec`` over ``in_shape`` (C, H, W) computes its products.

    *tiles* where the grid makes more than one tile of :data:`TILE_SIDE` and the dense matrix does at
    least :data:`TILES_MIN_SAVING` times the multiply-adds of the tiles' block matrices, else *dense*
    within :data:`DENSE_MAX_RATIO`, else *patches*. The maths is the same every way, only the float
    rounding differs (tests/test_local.py).

    Measured with a /tmp script of issue 29 on the project's 2-core AMD EPYC while a training job (nice 19)
    and at times a test run shared it: one process, default (2) threads, fp32, the ways interleaved, best
    of 5-7 rounds (2 for the patches' recurrent step), the matrices built once per weight version as in
    training. Timings swing by up to 2x between runs with the machine's load: ranges over 3 to 6 runs.

    - CIFAR-10's map (3 x 32 x 32 -> 32 x 32 x 3, 11 x 11 windows, padding 5; 8 x 8 tiles: 3.2x fewer
      multiply-adds than dense) -> tiles. Tiles against the dense matrix at 100 rows: forward 2.3-3.9x
      as fast, forward + weight gradient 2.5-7.4x, ten forwards + weight gradient (a recurrent FF step)
      1.9-4.2x (median 2.9x); at 200 rows 2.5-2.9x, 2.3-5.7x and 2.0-2.8x. One thread, for comparison
      only: the recurrent step 3.7-3.9x at 100 rows. Patches: 0.15-0.21x the dense forward, 0.5-1.0x
      with the weight gradient, 0.35-0.5x for the recurrent step. A whole training step of recurrent FF
      (FFRecurrentTrainer: video loss, backward, optimiser step; cifar10-ff-min-ssq's model, 100 images,
      random pixels): 1.9-2.5x as fast as with dense matrices with two layers, 1.9x with three; the rest
      of the step (normalising, goodness, losses: element-wise work) is now most of its time.
    - The test of every label (no gradient, 10,000 rows in chunks of :data:`TILE_GATHER_MAX`): 1.5x.
    - CIFAR-10's smoke maps (3 x 3 windows, padding 1; 10x fewer multiply-adds than dense) -> tiles,
      where patches were used (the dense matrix is 113x the necessary work): at 100 rows 3x as fast as
      patches forward, 2.1x for a recurrent step.
    - MNIST's maps (mnist-ff-unsupervised-local: 1 x 28 x 28 -> 4 x 4 x 128 -> 3 x 3 x 220 -> 2 x 2 x
      512) fit in one tile of 8 x 8 and stay dense matrices, as before. Smaller tiles were timed too
      (100 rows, forward + weight gradient against dense): single locations 1.0x on the first map,
      1.2x on the second and 3.3x on the third; 2 x 2 tiles 1.0x, 0.9x and 1.3x. Not taken up (a per-map
      choice of tile side is left to a later part of the issue).
    """
    c, h, w = in_shape
    tiling = Tiling.of(spec)
    dense_macs = c * h * w * spec.units
    if tiling.per_side > 1 and dense_macs >= TILES_MIN_SAVING * tiling.macs(c, spec.channels):
        return "tiles"
    return "dense" if computed_dense(in_shape, spec) else "patches"


def map_shapes(in_shape: tuple[int, int, int], specs: tuple[LocalSpec, ...]) -> list[tuple[int, int, int]]:
    """The input's (C, H, W), then the (C, H, W) of each locally connected layer of ``specs`` in turn."""
    return [in_shape] + [(s.channels, s.grid, s.grid) for s in specs]


class _ContiguousGradient(torch.autograd.Function):
    """The identity, whose backward hands on a contiguous gradient. After the patches' batched product,
    the gradient coming back through the copy into the map's channel-major order is a permuted view,
    and bmm's backward on it fell back to one matmul per location: 14.7 s instead of 0.04 s for the
    weight gradient of CIFAR-10's map at 2 rows on the project's loaded 2-core CPU. One copy of the
    (small) output gradient avoids that (the tiles' :class:`_TileProduct` does the same by hand)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad.contiguous()


class _TileProduct(torch.autograd.Function):
    """x (N, in units), the tiles' matrices (tiles, block units, tile outputs) and the bias as a map
    (C_out, grid, grid) or None -> (N, out units), channel-major.

    Forward (:func:`tile_product`): every tile's input block gathered from the flat input in one
    index_select, (N, tiles, block units), multiplied as a (tiles, N, block units) view (bmm takes its
    strides without a copy; a copy into that layout took as long as the product on the project's CPU), and
    the bias added in the one copy back into the map's order. Backward by hand, the output gradient put in
    the tiles' order once (:func:`tile_order`), and only the gradients asked for computed: the weights' (the
    blocks^T x gradient products), the bias's (the output gradient summed over rows, as the dense way's)
    and the input's (an index_add of the blocks' gradients; a block unit on the padding reads input 0,
    whose matrix rows are zero, so it adds exact zeros there)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, matrices: torch.Tensor, bias: torch.Tensor | None, gather: torch.Tensor,  # type: ignore[override]
                tiling: Tiling, spec: LocalSpec) -> torch.Tensor:
        out, blocks = tile_product(x, matrices, bias, gather, tiling, spec)
        ctx.save_for_backward(blocks if ctx.needs_input_grad[1] else None, matrices if ctx.needs_input_grad[0] else None, gather)
        ctx.geometry = (tiling, spec, x.shape[1])
        return out

    @staticmethod
    @once_differentiable  # (nothing in the project takes a gradient of a gradient)
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        blocks, matrices, gather = ctx.saved_tensors
        t, spec, in_units = ctx.geometry
        n = grad.shape[0]
        g = tile_order(grad, t, spec)
        gx = gm = gb = None
        if ctx.needs_input_grad[0]:
            gblocks = torch.bmm(g, matrices.mT).transpose(0, 1).reshape(n, -1)  # (N, tiles * block units)
            gx = grad.new_zeros(n, in_units).index_add_(1, gather, gblocks)
        if ctx.needs_input_grad[1]:
            gm = torch.bmm(blocks.transpose(0, 1).mT, g)
        if ctx.needs_input_grad[2]:
            gb = grad.sum(0).view(spec.channels, spec.grid, spec.grid)
        return gx, gm, gb, None, None, None


def tile_product(x: torch.Tensor, matrices: torch.Tensor, bias: torch.Tensor | None, gather: torch.Tensor, tiling: Tiling,
                 spec: LocalSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """The tiles' product (:class:`_TileProduct`'s forward): x (N, in units), the block matrices (tiles, block
    units, tile outputs), the bias as a map (C_out, grid, grid) or None -> (the output (N, out units),
    channel-major; the gathered blocks (N, tiles, block units), whose product with the output's gradient
    is the matrices' gradient: :func:`tile_order`)."""
    n, t, c = x.shape[0], tiling, spec.channels
    past = t.per_side * t.side - spec.grid
    blocks = x.index_select(1, gather).view(n, t.tiles, -1)
    products = torch.bmm(blocks.transpose(0, 1), matrices)  # (tiles, N, c_out * side * side)
    tiled = products.view(t.per_side, t.per_side, n, c, t.side, t.side).permute(2, 3, 0, 4, 1, 5)  # (N, C_out, rows, side, columns, side)
    out = products.new_empty(n, c, t.per_side, t.side, t.per_side, t.side)
    if bias is None:
        out.copy_(tiled)
    else:
        torch.add(tiled, F.pad(bias, (0, past, 0, past)).view(1, c, t.per_side, t.side, t.per_side, t.side), out=out)  # (no grad mode here)
    out = out.view(n, c, t.per_side * t.side, t.per_side * t.side)
    if past:  # tiles past the grid: drop their outputs
        out = out[:, :, : spec.grid, : spec.grid]
    return out.reshape(n, -1), blocks


def tile_order(grad: torch.Tensor, tiling: Tiling, spec: LocalSpec) -> torch.Tensor:
    """An output gradient (N, out units), channel-major, put in the tiles' order once, contiguously: (tiles, N,
    tile outputs), zero past the grid (through autograd's own backward it came as a permuted or zero-strided
    view, on which bmm fell back to one matmul per tile: 175 to 250 ms per weight gradient instead of 8 to 17
    ms at 100 rows on the project's CPU)."""
    t, n = tiling, grad.shape[0]
    past = t.per_side * t.side - spec.grid
    g = grad.reshape(n, spec.channels, spec.grid, spec.grid)
    if past:
        g = F.pad(g, (0, past, 0, past))
    # contiguous: a gradient that autograd expanded from a sum has zero strides, and reshape keeps it a view
    return g.view(n, spec.channels, t.per_side, t.side, t.per_side, t.side).permute(2, 4, 0, 1, 3, 5).reshape(t.tiles, n, -1).contiguous()


class LocallyConnected(nn.Module):
    """x: (N, C_in * H * W) flat -> (N, C_out * grid * grid) flat.

    ``computation``: how :meth:`forward` computes (:func:`computation_for` by default); :meth:`forward_dense`,
    :meth:`forward_tiles` and :meth:`forward_patches` compute the same map each way, whichever is chosen.
    ``tile_side``: locations per side of a tile (:class:`Tiling`).
    """

    def __init__(self, in_shape: tuple[int, int, int], spec: LocalSpec, bias: bool = True, computation: Computation | None = None,
                 tile_side: int = TILE_SIDE):
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
        self.computation: Computation = computation or computation_for(in_shape, spec)
        self.tiling = Tiling.of(spec, tile_side)
        # where each compact weight goes in the dense matrix (stacked seeds use it too: ffrepro.stacked);
        # the tiles' index and gather are made on first use (:meth:`_index`)
        if computed_dense(in_shape, spec) or self.computation == "dense":
            self.register_buffer("dense_index", self._dense_index(), persistent=False)
        if self.computation == "tiles":
            self._index("tile_index")
        self._cache: dict[str, tuple[tuple[int, int, bool], torch.Tensor]] = {}

    @property
    def dense(self) -> bool:
        """Whether :meth:`forward` multiplies by the dense matrix."""
        return self.computation == "dense"

    def _index(self, name: str) -> torch.Tensor:
        """A non-persistent index buffer (``dense_index``, ``tile_index`` or ``tile_gather``), made on the
        weight's device the first time it is needed."""
        if name not in self._buffers:
            make = {"dense_index": self._dense_index, "tile_index": self._tile_index, "tile_gather": self._tile_gather}[name]
            self.register_buffer(name, make().to(self.weight.device), persistent=False)
        return self._buffers[name]

    def _windows(self) -> torch.Tensor:
        """(L, F): the flat input position (c * H * W + row * W + column) each compact weight of a location
        sees, -1 where it sees the zero padding."""
        c, h, w = self.in_shape
        s = self.spec
        pixels = torch.arange(c * h * w).view(c, h, w).float()
        padded = F.pad(pixels.unsqueeze(0), (s.padding,) * 4, value=-1.0)[0]  # -1 marks padding
        windows = padded.unfold(1, s.window, s.stride).unfold(2, s.window, s.stride)  # (C, grid, grid, k, k)
        return windows.permute(1, 2, 0, 3, 4).reshape(s.grid * s.grid, -1).long()

    def _dense_index(self) -> torch.Tensor:
        """(L, F, C_out) flat positions in an (out units, in units + 1) matrix, rows channel-major
        (c_out * L + location); a weight that sees the zero padding goes to its row's last column."""
        c, h, w = self.in_shape
        s = self.spec
        locations = s.grid * s.grid
        spare = c * h * w
        cols = self._windows()
        cols = torch.where(cols < 0, spare, cols)
        rows = torch.arange(s.channels).view(1, 1, -1) * locations + torch.arange(locations).view(-1, 1, 1)  # (L, 1, C_out)
        return rows * (spare + 1) + cols.unsqueeze(-1)

    def _tile_index(self) -> torch.Tensor:
        """(L, F, C_out) flat positions in the tiles' block matrices (tiles, block units, tile outputs),
        flattened, with one spare entry at the end that every weight onto the zero padding goes to (as
        the dense matrix's spare column: such weights never touch an output and get a zero gradient).

        A block's units are its padded map's (c_in, row, column) in the block, a tile's outputs
        (c_out, row, column) in the tile; tiles row-major."""
        c = self.in_shape[0]
        s, t = self.spec, self.tiling
        r, col = (a.reshape(-1, 1) for a in torch.meshgrid(torch.arange(s.grid), torch.arange(s.grid), indexing="ij"))  # (L, 1)
        tile = ((r // t.side) * t.per_side + col // t.side).unsqueeze(-1)  # (L, 1, 1)
        out = ((r % t.side) * t.side + col % t.side).unsqueeze(-1) + torch.arange(s.channels).view(1, 1, -1) * t.side * t.side  # (L, 1, C_out)
        ci, ki, kj = (a.reshape(1, -1, 1) for a in torch.meshgrid(torch.arange(c), torch.arange(s.window), torch.arange(s.window), indexing="ij"))
        # a location's window starts at (its row and column in the tile) * stride in the tile's block
        bi = ((r % t.side) * s.stride).unsqueeze(-1) + ki
        bj = ((col % t.side) * s.stride).unsqueeze(-1) + kj
        unit = (ci * t.block + bi) * t.block + bj  # (L, F, 1)
        units, outs = t.block_units(c), t.side * t.side * s.channels
        flat = (tile * units + unit) * outs + out
        spare = t.tiles * units * outs
        return torch.where((self._windows() < 0).unsqueeze(-1), spare, flat)

    def _tile_gather(self) -> torch.Tensor:
        """(tiles * block units,): the flat input position of every unit of every tile's block. A block
        unit on the zero padding (or past the map, for tiles that run past the grid) reads input 0
        instead: its rows of the block matrix are zero (:meth:`_tile_index`), so no product sees it,
        and the input gradient it sends there is an exact zero."""
        c, h, w = self.in_shape
        s, t = self.spec, self.tiling
        tiles = torch.arange(t.per_side) * t.step - s.padding
        rows = (tiles.view(-1, 1) + torch.arange(t.block).view(1, -1))  # (per_side, block): map row of each block row
        inside_r, inside_c = (rows >= 0) & (rows < h), (rows >= 0) & (rows < w)
        pos = (torch.arange(c).view(1, 1, -1, 1, 1) * h + rows.view(-1, 1, 1, t.block, 1)) * w + rows.view(1, -1, 1, 1, t.block)
        inside = inside_r.view(-1, 1, 1, t.block, 1) & inside_c.view(1, -1, 1, 1, t.block)
        return torch.where(inside, pos, 0).flatten()  # (tile row, tile column, c_in, block row, block column)

    def dense_weight(self) -> torch.Tensor:
        """The (out units, in units) matrix this layer multiplies by; differentiable in ``weight``.

        Built once per value of the weights and reused: a recurrent net calls a layer about ten times
        per minibatch with the same weights. The cache is keyed by the weight's version counter (an
        optimiser step or a load bumps it), its storage and the grad mode, and is dropped once a
        backward pass has gone through it (its graph is then freed).
        """
        return self._cached("dense", self._build_dense)

    def tile_weight(self) -> torch.Tensor:
        """The tiles' (tiles, block units, tile outputs) block matrices; differentiable in ``weight``,
        cached as :meth:`dense_weight` is."""
        return self._cached("tiles", lambda: self.scatter_tiles(self.weight))

    def _cached(self, kind: str, build) -> torch.Tensor:
        key = (self.weight._version, self.weight.data_ptr(), torch.is_grad_enabled())
        hit = self._cache.get(kind)
        if hit is not None and hit[0] == key:
            return hit[1]
        matrix = build()
        if matrix.requires_grad:
            matrix.register_hook(partial(self._drop_cache, kind))
        self._cache[kind] = (key, matrix)
        return matrix

    def _drop_cache(self, kind: str, grad: torch.Tensor) -> None:
        self._cache.pop(kind, None)

    def _build_dense(self) -> torch.Tensor:
        return self.scatter_dense(self.weight)

    def scatter_dense(self, weight: torch.Tensor) -> torch.Tensor:
        """Compact weights (..., L, F, C_out) scattered into the (..., out units, in units) matrix they are a
        sparse part of; differentiable in ``weight``. Leading axes: stacked seeds (:mod:`ffrepro.stacked`)."""
        c, h, w = self.in_shape
        lead = weight.shape[:-3]
        index = self._index("dense_index")
        flat = weight.new_zeros(*lead, self.spec.units * (c * h * w + 1)).index_copy(-1, index.flatten(), weight.flatten(-3))
        return flat.view(*lead, self.spec.units, -1)[..., :-1]

    def scatter_tiles(self, weight: torch.Tensor) -> torch.Tensor:
        """Compact weights (..., L, F, C_out) scattered into the tiles' (..., tiles, block units, tile outputs) block
        matrices; differentiable in ``weight`` (the gradient is gathered back from the blocks). Leading axes:
        stacked seeds."""
        t, units = self.tiling, self.tiling.block_units(self.in_shape[0])
        lead, outs = weight.shape[:-3], t.side * t.side * self.spec.channels
        flat = weight.new_zeros(*lead, t.tiles * units * outs + 1).index_copy(-1, self._index("tile_index").flatten(), weight.flatten(-3))
        return flat[..., :-1].view(*lead, t.tiles, units, outs)

    def compact_gradient(self, grad: torch.Tensor, tiles: bool) -> torch.Tensor:
        """The gradient of the dense matrix (..., out units, in units) or (``tiles``) of the tiles' block matrices
        (..., tiles, block units, tile outputs), gathered back to the compact weights (..., L, F, C_out): what
        autograd gives through :meth:`scatter_dense` or :meth:`scatter_tiles` (a weight that sees the zero
        padding gets none)."""
        if tiles:
            lead, index = grad.shape[:-3], self._index("tile_index")
            flat = F.pad(grad.flatten(-3), (0, 1))  # the spare entry: no gradient
        else:
            lead, index = grad.shape[:-2], self._index("dense_index")
            flat = F.pad(grad, (0, 1)).flatten(-2)  # the padding's column: no gradient
        return flat[..., index.flatten()].view(*lead, *self.weight.shape)

    def bias_map(self, bias: torch.Tensor) -> torch.Tensor:
        """A bias (L, C_out) as the tiles' product adds it: a map (C_out, grid, grid)."""
        return bias.T.reshape(self.spec.channels, self.spec.grid, self.spec.grid)

    def tiles_product(self, x: torch.Tensor, matrices: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """x (N, in units) through the tiles' block ``matrices`` (:meth:`scatter_tiles`) with the bias as a map
        (:meth:`bias_map`) or None: in chunks of :data:`TILE_GATHER_MAX` gathered values; differentiable
        (:class:`_TileProduct`). -> (N, out units)"""
        args = (matrices, bias, self._index("tile_gather"), self.tiling, self.spec)
        rows = max(1, TILE_GATHER_MAX // self._index("tile_gather").numel())
        return _TileProduct.apply(x, *args) if x.shape[0] <= rows else torch.cat([_TileProduct.apply(part, *args) for part in x.split(rows)])

    def tiles_blocks(self, x: torch.Tensor, matrices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`tiles_product` without a graph or a bias, in one product, for an update that writes its
        gradients out: (the output (N, out units), the gathered blocks (N, tiles, block units) that
        :meth:`tiles_weight_grad` takes)."""
        return tile_product(x, matrices, None, self._index("tile_gather"), self.tiling, self.spec)

    def tiles_weight_grad(self, grad: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
        """The block matrices' gradient of :meth:`tiles_blocks` from its output's gradient (N, out units) and the
        blocks it gathered. -> (tiles, block units, tile outputs)"""
        return torch.bmm(blocks.transpose(0, 1).mT, tile_order(grad, self.tiling, self.spec))

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.spec.channels, self.spec.grid, self.spec.grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., C_in * H * W) -> (..., C_out * grid * grid); leading axes are batched together."""
        if self.computation == "dense":
            return self.forward_dense(x)
        if self.computation == "tiles":
            return self.forward_tiles(x)
        return self.forward_patches(x)

    def forward_dense(self, x: torch.Tensor) -> torch.Tensor:
        """The map as one product with the dense matrix (:meth:`dense_weight`)."""
        return F.linear(x, self.dense_weight(), self.bias.T.flatten())

    def forward_tiles(self, x: torch.Tensor) -> torch.Tensor:
        """The map as one batched product of every tile's input block with its block matrix
        (:meth:`tile_weight`; :meth:`tiles_product`)."""
        return self.tiles_product(x.reshape(-1, x.shape[-1]), self.tile_weight(), self.bias_map(self.bias)).reshape(*x.shape[:-1], -1)

    def forward_patches(self, x: torch.Tensor) -> torch.Tensor:
        """The same map through copied windows and a batched matmul (see the module's docstring)."""
        lead, s = x.shape[:-1], self.spec
        n = x[..., 0].numel()
        maps = F.pad(x.reshape(n, *self.in_shape), (s.padding,) * 4)
        windows = maps.unfold(2, s.window, s.stride).unfold(3, s.window, s.stride)  # a view: (N, C, grid, grid, k, k)
        # one copy into the layout of a batched matmul, one (N x F) @ (F x C_out) product per location;
        # 5x faster on a CPU than F.unfold followed by an einsum (issue 9's 32 x 32 maps, 11 x 11 fields)
        patches = windows.permute(2, 3, 0, 1, 4, 5).reshape(s.grid * s.grid, n, -1)  # (L, N, F)
        out = _ContiguousGradient.apply(torch.bmm(patches, self.weight) + self.bias.unsqueeze(1))  # (L, N, C_out)
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
