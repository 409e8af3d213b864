"""Unsupervised FF (paper section 3.2): hybrid-image negatives, the readout, locally connected layers."""

from __future__ import annotations

import torch

from ffrepro.data import Dataset, Split
from ffrepro.local import LocallyConnected, LocalSpec
from ffrepro.experiments.mnist_unsupervised import LOCAL_MAPS
from ffrepro.registry import get_experiment
from ffrepro.unsupervised import FFUnsupervisedTrainer, hybrid_masks, make_negatives


def autocorrelation(masks: torch.Tensor, shift: int) -> float:
    """Correlation between pixels ``shift`` apart horizontally, over a batch of (N, H, W) images."""
    a, b = masks[:, :, :-shift].flatten(), masks[:, :, shift:].flatten()
    return torch.corrcoef(torch.stack([a, b]))[0, 1].item()


def test_mask_is_binary_right_size_and_balanced() -> None:
    masks = hybrid_masks(500, 28, 10, torch.Generator().manual_seed(0))
    assert masks.shape == (500, 28, 28)
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    assert 0.3 < masks.mean().item() < 0.7
    per_mask = masks.mean((1, 2))
    assert (per_mask > 0).float().mean() > 0.9 and (per_mask < 1).float().mean() > 0.9


def test_mask_has_long_range_structure() -> None:
    g = torch.Generator().manual_seed(1)
    blurred = hybrid_masks(500, 28, 10, g)
    raw = hybrid_masks(500, 28, 0, g)  # an unblurred random bit image
    assert abs(autocorrelation(raw, 4)) < 0.05
    assert autocorrelation(blurred, 4) > 0.2  # pixels 4 apart still agree: blobs, not noise


def test_hybrid_mixes_exactly_the_two_chosen_digits(mnist: Dataset) -> None:
    x = mnist.train.x[:64]
    hybrids, partner, masks = make_negatives(x, 10, torch.Generator().manual_seed(2))
    assert (partner != torch.arange(64)).all()
    m = masks.reshape(64, -1)
    assert torch.equal(hybrids[m == 1], x[m == 1])
    assert torch.equal(hybrids[m == 0], x[partner][m == 0])


def test_make_negatives_is_reproducible_from_the_seed() -> None:
    x = torch.rand(16, 784)
    a = make_negatives(x, 10, torch.Generator().manual_seed(3))[0]
    b = make_negatives(x, 10, torch.Generator().manual_seed(3))[0]
    assert torch.equal(a, b)


def test_readout_never_sees_the_test_set(mnist: Dataset) -> None:
    """Scrambling the test labels and images changes no readout trained on the training split."""
    import dataclasses

    cfg = get_experiment("mnist-ff-unsupervised").config("smoke")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, train_examples=1000, eval_examples=500))
    results = []
    for scramble in (False, True):
        test = mnist.test
        if scramble:
            test = Split(torch.rand_like(test.x), (test.y + 1) % 10)
        data = dataclasses.replace(mnist, test=test)
        torch.manual_seed(0)
        trainer = FFUnsupervisedTrainer(cfg, data, torch.Generator().manual_seed(0))
        trainer.train_epoch(1)
        results.append(trainer.evaluate())
    assert results[0]["train"] == results[1]["train"] and results[0]["val"] == results[1]["val"]
    assert results[0]["test"] != results[1]["test"]


def test_locally_connected_unit_sees_only_its_receptive_field() -> None:
    layer = LocallyConnected((1, 28, 28), LOCAL_MAPS[0])
    x = torch.rand(1, 784)
    base = layer(x).reshape(LOCAL_MAPS[0].channels, 16)
    for location in (0, 5, 15):
        inside = layer.receptive_field(location).flatten()
        for pixel in (int(inside.nonzero()[0]), int((~inside).nonzero()[0]), int((~inside).nonzero()[-1])):
            y = x.clone()
            y[0, pixel] += 1.0
            changed = (layer(y).reshape(LOCAL_MAPS[0].channels, 16) - base).abs()[:, location].max() > 0
            assert bool(changed) == bool(inside[pixel]), (location, pixel)


def test_local_maps_chain_and_reject_bad_geometry() -> None:
    shape = (1, 28, 28)
    for spec in LOCAL_MAPS:
        layer = LocallyConnected(shape, spec)
        shape = layer.out_shape
    assert shape == (512, 2, 2)
    import pytest

    with pytest.raises(ValueError, match="does not give a 5x5 grid"):
        LocallyConnected((1, 28, 28), LocalSpec(grid=5, window=10, stride=6, channels=8))
