"""MNIST as loaded against the facts of the original files: their md5 sums; 60,000 training images
(the first 50,000 train, the last 10,000 validate) and 10,000 test images of 784 float32 pixels; the
class counts of both sets; pixel mean 0.1307 and std 0.3081 on a 0-1 scale. And the data layer's
layout: validating a configuration loads no downloader."""

from __future__ import annotations

import subprocess
import sys

import torch

from ffrepro.data import MNIST_FILES, Dataset
from ffrepro.results import REPO_ROOT


def test_splits_and_statistics(mnist: Dataset) -> None:
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (50_000, 10_000, 10_000)
    assert mnist.hashes == MNIST_FILES
    all_train = torch.cat([mnist.train.y, mnist.val.y])
    assert torch.bincount(all_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(mnist.test.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    x = torch.cat([mnist.train.x, mnist.val.x])
    assert abs(x.mean().item() - 0.1307) < 1e-3 and abs(x.std().item() - 0.3081) < 1e-3
    assert mnist.train.x.dtype == torch.float32 and mnist.train.x.shape[1] == 784


def test_config_loads_no_downloader() -> None:
    """ffrepro.config validates a jitter range with ffrepro.augment, which imports the data sets' facts only."""
    code = "import sys, ffrepro.config; sys.exit('ffrepro.data' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, timeout=120).returncode == 0
