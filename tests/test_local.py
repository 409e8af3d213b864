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


# --- tiles (issue 29): a tile of locations is one dense block product -------------------------------
MNIST_SHAPES = ((1, 28, 28), (128, 4, 4), (220, 3, 3))  # the inputs of mnist-ff-unsupervised-local's LOCAL_MAPS


def _mnist_maps() -> list[tuple[tuple[int, int, int], LocalSpec]]:
    from ffrepro.experiments.mnist_unsupervised import LOCAL_MAPS

    return list(zip(MNIST_SHAPES, LOCAL_MAPS))


def _three_ways(layer: LocallyConnected, x: torch.Tensor) -> dict[str, tuple[torch.Tensor, ...]]:
    """Output and gradients (weight, bias, input) of a random linear loss, computed dense, by tiles and by patches."""
    out = {}
    for way in ("dense", "tiles", "patches"):
        xi = x.detach().clone().requires_grad_()
        y = getattr(layer, f"forward_{way}")(xi)
        g = torch.linspace(-1.0, 1.0, y.numel(), dtype=y.dtype).view_as(y)
        out[way] = (y, *torch.autograd.grad((y * g).sum(), (layer.weight, layer.bias, xi)))
    return out


def _maps_to_check() -> list[tuple[tuple[int, int, int], LocalSpec, int]]:
    """(input shape, map, tile side): CIFAR-10's map by the default 8 x 8 tiles and by 5 x 5 tiles (whose last
    row and column run past the grid), MNIST's three maps by single locations and by tiles one location
    smaller than the grid (running past it)."""
    return [((3, 32, 32), CIFAR_LC, 8), ((3, 32, 32), CIFAR_LC, 5)] + [(shape, spec, side) for shape, spec in _mnist_maps() for side in sorted({1, spec.grid - 1})]


@pytest.mark.parametrize("shape, spec, side", _maps_to_check())
def test_tiles_equal_the_dense_matrix_to_float32_rounding(shape: tuple[int, int, int], spec: LocalSpec, side: int) -> None:
    """Values and input, weight and bias gradients of the tiled map agree with the dense and patch ways to
    float32 rounding (as the dense way itself does), all against a float64 reference; leading axes batched."""
    torch.manual_seed(0)
    layer = LocallyConnected(shape, spec, tile_side=side)
    assert layer.tiling.tiles > 1
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.rand(2, 3, shape[0] * shape[1] * shape[2])
    ref = _three_ways(layer.double(), x.double())["dense"]
    got = _three_ways(layer.float(), x)
    for way, values in got.items():
        for name, a, r in zip(("output", "weight gradient", "bias gradient", "input gradient"), values, ref):
            assert a.shape == r.shape and a.dtype == torch.float32
            assert (a.double() - r).abs().max() <= 2e-6 * r.abs().max(), (way, name)
    assert got["tiles"][0].shape == (2, 3, spec.units)


def test_the_tile_check_can_fail() -> None:
    """A tiled map whose blocks are one location off (its index shifted by one tile output) no longer agrees."""
    torch.manual_seed(0)
    layer = LocallyConnected((3, 32, 32), CIFAR_LC)
    x = torch.rand(4, 3072)
    assert torch.allclose(layer.forward_tiles(x), layer.forward_dense(x), atol=1e-5)
    with torch.no_grad():
        spare = layer.tile_index.max()
        layer.tile_index[layer.tile_index < spare] += 1  # every weight one tile output further on
        layer.weight.add_(0.0)  # a new weight version: the blocks are built again
    assert not torch.allclose(layer.forward_tiles(x), layer.forward_dense(x), atol=1e-2)


def test_weights_onto_the_padding_never_act_and_are_never_trained() -> None:
    """The dense matrix sends every weight that sees the zero padding to a spare column that is cut off, so
    such a weight never enters a product and its gradient is exactly zero; the tiles do the same (a spare
    entry after the blocks). Weights made NaN there change neither output nor any other gradient, and an
    SGD step leaves them as they were (an optimiser's weight decay, as SmoothedSGD's, still shrinks them,
    the same either way, and they still never act). The patch way multiplies them by the padding's zeros."""
    torch.manual_seed(0)
    layer = LocallyConnected((3, 32, 32), CIFAR_LC)
    padding = layer._windows() < 0  # (L, F): weights that see the padding
    assert padding.any() and not padding.all() and padding[0, 0] and not padding[16 * 32 + 16].any()
    x = torch.rand(3, 3072)
    clean = {way: getattr(layer, f"forward_{way}")(x).detach() for way in ("dense", "tiles")}
    with torch.no_grad():
        layer.weight[padding] = float("nan")
    before = layer.weight.detach().clone()
    for way in ("dense", "tiles"):
        y = getattr(layer, f"forward_{way}")(x)
        assert torch.equal(y, clean[way]), way
        (g,) = torch.autograd.grad(y.square().sum(), layer.weight)
        assert torch.equal(g[padding], torch.zeros_like(g[padding])) and g[~padding].isfinite().all() and g[~padding].abs().sum() > 0, way
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    layer(x).square().sum().backward()
    opt.step()
    assert torch.equal(layer.weight[padding].isnan(), before[padding].isnan()) and not torch.equal(layer.weight[~padding], before[~padding])
    assert layer.forward_patches(x).view(3, 3, 32, 32)[:, :, 0, 0].isnan().all()  # the patch way does multiply them


def test_the_tile_matrices_follow_every_change_of_the_weights() -> None:
    """Built once per weight version, as the dense matrix is: an optimiser step, a load and a no-grad call in
    between are all seen; two backward passes through the same blocks accumulate."""
    torch.manual_seed(0)
    layer = LocallyConnected((3, 32, 32), CIFAR_LC)
    assert layer.computation == "tiles"
    x = torch.randn(3, 3072)
    opt = torch.optim.SGD(layer.parameters(), lr=1.0)
    for _ in range(2):
        layer(x).square().sum().backward()
    once = torch.autograd.grad(layer.forward_dense(x).square().sum(), layer.weight)[0]
    assert torch.allclose(layer.weight.grad, 2 * once, atol=1e-3, rtol=1e-4)
    opt.step()
    assert torch.allclose(layer(x), layer.forward_dense(x), atol=1e-3, rtol=1e-4)
    other = LocallyConnected((3, 32, 32), CIFAR_LC)
    layer.load_state_dict(other.state_dict())
    assert torch.allclose(layer(x), other.forward_dense(x), atol=1e-5)
    with torch.no_grad():
        layer(x)
    layer(x).sum().backward()  # the no-grad blocks are not reused where a gradient is needed


def test_which_maps_use_tiles() -> None:
    """CIFAR-10's maps (3.2x fewer multiply-adds than the dense matrix) and the smoke profile's 3 x 3 ones
    use tiles; MNIST's maps (grids of 4, 3, 2: one tile would be the whole map) stay dense matrices. The
    dense matrix of CIFAR-10's map still exists for stacked seeds (ffrepro.stacked)."""
    from ffrepro.local import computation_for, computed_dense

    assert computation_for((3, 32, 32), CIFAR_LC) == "tiles" and computed_dense((3, 32, 32), CIFAR_LC)
    assert LocallyConnected((3, 32, 32), CIFAR_LC).dense_index.shape == (1024, 363, 3)
    assert computation_for((3, 32, 32), LocalSpec(grid=32, window=3, stride=1, channels=3, padding=1)) == "tiles"
    assert [computation_for(shape, spec) for shape, spec in _mnist_maps()] == ["dense"] * 3
    net = _cifar_recurrent(2)
    assert [m.computation for m in (*[layer.linear for layer in net.layers], net.top_down[0])] == ["tiles"] * 3


def test_recurrent_step_by_tiles_equals_the_dense_matrices() -> None:
    """A recurrent CIFAR-10 net (bottom-up and top-down maps) through two steps, then the gradient of a
    goodness-like loss: the same states and compact-weight gradients whether its maps use tiles or dense
    matrices, to float32 rounding."""
    from ffrepro.local import LocallyConnected as LC

    net = _cifar_recurrent(2)
    maps = [m for m in net.modules() if isinstance(m, LC)]
    assert len(maps) == 3
    image = torch.rand(4, 3072)
    labels = torch.tensor([[0, 1, 2, 3]])
    results = {}
    for way in ("tiles", "dense"):
        for m in maps:
            m.computation = way
        states = net.run(image, labels, 2)
        loss = sum(h.square().sum() for step in states for _, h in step)
        grads = torch.autograd.grad(loss, [m.weight for m in maps])
        results[way] = ([h.detach() for step in states for _, h in step], grads)
    for a, b in zip(*[results[w][0] + list(results[w][1]) for w in ("tiles", "dense")]):
        assert (a - b).abs().max() <= 1e-5 * b.abs().max()


def test_many_rows_go_through_the_tiles_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past TILE_GATHER_MAX gathered values the rows are cut into chunks (the test of every label runs
    10,000 rows at once): the same values and gradients as in one product, to float32 rounding."""
    import ffrepro.local as local

    torch.manual_seed(0)
    layer = LocallyConnected((3, 32, 32), CIFAR_LC)
    x = torch.rand(2, 5, 3072, requires_grad=True)
    whole = layer.forward_tiles(x)
    grads = torch.autograd.grad(whole.square().sum(), (layer.weight, layer.bias, x))
    monkeypatch.setattr(local, "TILE_GATHER_MAX", 3 * layer.tile_gather.numel())  # 3 rows per product: 4 chunks
    chunked = layer.forward_tiles(x)
    assert (chunked - whole).abs().max() <= 1e-6 * whole.abs().max()  # (the matmul kernels may round by the rows' count)
    for a, b in zip(torch.autograd.grad(chunked.square().sum(), (layer.weight, layer.bias, x)), grads):
        assert (a - b).abs().max() <= 1e-6 * b.abs().max()
