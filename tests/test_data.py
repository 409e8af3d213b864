"""The data layer against the facts in ../shared/DATA.md."""

from __future__ import annotations

import torch

from ffrepro.data import MNIST_FILES, Dataset


def test_splits_and_statistics(mnist: Dataset) -> None:
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (50_000, 10_000, 10_000)
    assert mnist.hashes == MNIST_FILES
    all_train = torch.cat([mnist.train.y, mnist.val.y])
    assert torch.bincount(all_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(mnist.test.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    x = torch.cat([mnist.train.x, mnist.val.x])
    assert abs(x.mean().item() - 0.1307) < 1e-3 and abs(x.std().item() - 0.3081) < 1e-3
    assert mnist.train.x.dtype == torch.float32 and mnist.train.x.shape[1] == 784
