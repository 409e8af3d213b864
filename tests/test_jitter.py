"""Jittered MNIST (mnist-ff-jitter): the shifts, the label pixels, the untouched evaluation images."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ffrepro.config import ConfigError, override
from ffrepro.data import Dataset, Split, check_jitter, jitter, shift_images
from ffrepro.data import NUM_CLASSES
from ffrepro.ff import FFNet, embed_label, wrong_labels
from ffrepro.registry import get_experiment
from ffrepro.supervised import FFSupervisedTrainer
from ffrepro.weights import pack_weights, unpack_weights

SIDE = 28


def moved(img: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """The reference: a 28 x 28 image moved right by dx and down by dy, written pixel by pixel."""
    out = torch.zeros_like(img)
    for i in range(SIDE):
        for j in range(SIDE):
            if 0 <= i - dy < SIDE and 0 <= j - dx < SIDE:
                out[i, j] = img[i - dy, j - dx]
    return out


def test_shift_equals_the_image_moved_with_zeros_filled_in() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(25, SIDE * SIDE, generator=g) + 0.1  # no zeros, so a filled-in zero is visible
    shifts = torch.tensor([(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3)])
    out = shift_images(x, shifts[:, 0], shifts[:, 1])
    for k, (dx, dy) in enumerate(shifts.tolist()):
        expected = moved(x[k].view(SIDE, SIDE), dx, dy)
        assert torch.equal(out[k].view(SIDE, SIDE), expected), (dx, dy)
        zeros = (SIDE * abs(dx) + SIDE * abs(dy) - abs(dx * dy))
        assert int((out[k] == 0).sum()) == zeros, (dx, dy)


def test_every_shift_in_range_occurs_and_no_other() -> None:
    """Tag each image with one bright pixel in the middle and read off where it went."""
    n = 20_000
    x = torch.zeros(n, SIDE * SIDE)
    x[:, 14 * SIDE + 14] = 1.0
    out = jitter(x, 2, torch.Generator().manual_seed(1))
    where = out.argmax(1)
    assert torch.all(out.sum(1) == 1.0)  # the pixel is never lost or doubled
    dy, dx = where // SIDE - 14, where % SIDE - 14
    counts = torch.zeros(5, 5)
    for a, b in zip(dx.tolist(), dy.tolist()):
        assert -2 <= a <= 2 and -2 <= b <= 2, (a, b)
        counts[b + 2, a + 2] += 1
    assert torch.all(counts > 0)
    # uniform over the 25 shifts: each count within 5 binomial standard errors of n / 25
    p = 1 / 25
    assert torch.all((counts - n * p).abs() < 5 * (n * p * (1 - p)) ** 0.5), counts


def test_no_jitter_is_the_identity_and_draws_nothing() -> None:
    x = torch.rand(4, SIDE * SIDE)
    g = torch.Generator().manual_seed(3)
    state = g.get_state()
    assert jitter(x, 0, g) is x
    assert torch.equal(g.get_state(), state)


@pytest.mark.parametrize("bad", [-1, 28, 40, 1.5, True])
def test_bad_shift_range_is_rejected_with_a_message(bad: object) -> None:
    with pytest.raises(ValueError, match="jitter must be a whole number of pixels in \\[0, 27\\]"):
        check_jitter(bad)  # type: ignore[arg-type]
    cfg = get_experiment("mnist-ff-jitter").config("smoke")
    with pytest.raises(ConfigError, match=r"data\.jitter"):  # named, whether the value is out of range or not a number
        override(cfg, {"data.jitter": str(bad)})


def test_shift_images_rejects_a_shift_out_of_view() -> None:
    with pytest.raises(ValueError, match="out of view"):
        shift_images(torch.rand(1, SIDE * SIDE), torch.tensor([28]), torch.tensor([0]))


def _tiny_dataset(n: int = 300) -> Dataset:
    g = torch.Generator().manual_seed(5)
    x = torch.rand(3 * n, SIDE * SIDE, generator=g) + 0.1
    y = torch.randint(0, NUM_CLASSES, (3 * n,), generator=g)
    return Dataset("mnist", Split(x[:n], y[:n]), Split(x[n : 2 * n], y[n : 2 * n]), Split(x[2 * n :], y[2 * n :]), {})


def _trainer(ds: Dataset, **data_fields: int) -> FFSupervisedTrainer:
    cfg = get_experiment("mnist-ff-jitter").config("smoke")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, train_examples=None, eval_examples=None, **data_fields),
                              model=dataclasses.replace(cfg.model, hidden=(20, 20)), optim=dataclasses.replace(cfg.optim, epochs=1))
    torch.manual_seed(0)
    return FFSupervisedTrainer(cfg, ds, torch.Generator().manual_seed(0))


def test_label_pixels_after_jitter_are_the_one_hot_label_for_positive_and_negative_data() -> None:
    ds = _tiny_dataset()
    trainer = _trainer(ds)
    idx = trainer.minibatches()[0]
    x, y = trainer.batch(idx)
    assert not torch.equal(x, ds.train.x[idx])  # shifted
    net: FFNet = trainer.net
    neg = wrong_labels(y, torch.Generator().manual_seed(0))
    for labels in (y, neg):
        embedded = net.embed(x, labels)
        assert torch.equal(embedded[:, :NUM_CLASSES], torch.nn.functional.one_hot(labels, NUM_CLASSES).float())
        assert torch.equal(embedded[:, NUM_CLASSES:], x[:, NUM_CLASSES:])  # the rest is the shifted image
    assert torch.equal(embed_label(x, None)[:, :NUM_CLASSES], torch.full((len(y), NUM_CLASSES), 0.1))


def test_training_sees_shifted_images_but_validation_and_test_never_are() -> None:
    ds = _tiny_dataset()
    before = {name: ds.split(name).x.clone() for name in ("train", "val", "test")}
    trainer = _trainer(ds)
    seen: list[torch.Tensor] = []
    batch, forward = trainer.batch, trainer.net.forward

    def batch_spy(idx: torch.Tensor):  # records every minibatch training is given
        x, y = batch(idx)
        seen.append(x[:, NUM_CLASSES:].clone())
        return x, y

    def spy(x: torch.Tensor | None, detach: bool = True, first: torch.Tensor | None = None):  # records every image the net is given
        if x is not None:  # (the test of every label passes layer 1's product instead, made from the same images)
            seen.append(x[:, NUM_CLASSES:].clone())
        return forward(x, detach, first)

    trainer.batch = batch_spy  # type: ignore[method-assign]
    trainer.train_epoch(1)
    trainer.net.forward = spy  # type: ignore[method-assign]
    train_inputs = torch.cat(seen)
    originals = ds.train.x[:, NUM_CLASSES:]
    shifted = sum(int(not any(torch.equal(row, o) for o in originals)) for row in train_inputs[:200])
    assert shifted > 100  # most training inputs are shifted images (1 in 25 is the zero shift)
    seen.clear()
    trainer.evaluate()
    for name in ("val", "test"):
        assert torch.equal(ds.split(name).x, before[name])
    evaluated = torch.cat(seen)
    rows = {tuple(r.tolist()) for r in torch.cat([ds.val.x, ds.test.x, ds.train.x])[:, NUM_CLASSES:]}
    assert all(tuple(r.tolist()) in rows for r in evaluated[::97])  # every evaluated input is an unshifted image


def test_jitter_passes_multiply_the_examples_per_epoch() -> None:
    ds = _tiny_dataset(250)
    trainer = _trainer(ds, jitter_passes=3)
    batches = trainer.minibatches()
    seen = torch.cat(batches)
    assert len(seen) == 750 == trainer.epoch_examples()
    assert torch.equal(torch.bincount(seen, minlength=250), torch.full((250,), 3))


def test_packed_weights_round_trip_within_a_254th_of_each_row() -> None:
    w = torch.randn(100, SIDE * SIDE) * torch.logspace(-3, 0, 100)[:, None]
    back = unpack_weights(pack_weights(w))
    assert back.shape == w.shape
    assert torch.all((back - w).abs() <= w.abs().amax(1, keepdim=True) / 254 * 1.001)  # half a step, plus float rounding


def test_an_epoch_with_hard_negatives_counts_the_wrong_labels_it_drew() -> None:
    """The GAN page's measurement: every negative of the epoch counted once, under its true label and never
    as its own; uniform wrong labels keep no count."""
    ds = _tiny_dataset()
    for negatives in ("hard", "uniform"):
        trainer = _trainer(ds)
        trainer.cfg = dataclasses.replace(trainer.cfg, model=dataclasses.replace(trainer.cfg.model, negative_labels=negatives))
        log = trainer.train_epoch(1)
        if negatives == "uniform":
            assert "negative_labels" not in log
            continue
        counts = torch.tensor(log["negative_labels"])
        assert counts.shape == (NUM_CLASSES, NUM_CLASSES) and counts.sum() == log["negative_examples"] == len(ds.train.y)
        assert counts.diagonal().sum() == 0 and torch.equal(counts.sum(1), torch.bincount(ds.train.y, minlength=NUM_CLASSES))
