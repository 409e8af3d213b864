"""Augmentation: what transforms images after they are loaded, never what loads them.

Translation jitter of MNIST's training images (paper section 3.3: each image moved by its own random
shift) and per-channel standardisation of a whole data set (CIFAR-10). Reads no file and imports no
downloader, so :mod:`ffrepro.config` validates a jitter range without loading :mod:`ffrepro.data`
(which re-exports these functions, the import path the rest of the package uses).
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch

from ffrepro.datafacts import CHANNELS, MNIST_SIDE

if TYPE_CHECKING:
    from ffrepro.data import Dataset, Split


def shift_images(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, side: int = MNIST_SIDE, max_shift: int | None = None) -> torch.Tensor:
    """Move each image right by ``dx`` and down by ``dy`` pixels (negative: left, up); pixels that come
    in from outside are 0. One gather for the whole batch, no per-image loop. ``max_shift`` bounds
    |dx| and |dy| when the caller knows it (it saves reading the shifts back from the device).

    x: (N, side*side); dx, dy: (N,) integer tensors -> (N, side*side)
    """
    n = x.shape[0]
    if x.shape[1] != side * side:
        raise ValueError(f"shift_images expects rows of {side}x{side} = {side * side} pixels, got {x.shape[1]}")
    pad = max_shift if max_shift is not None else (int(max(dx.abs().max().item(), dy.abs().max().item())) if n else 0)
    if pad >= side:
        raise ValueError(f"a shift of {pad} pixels moves a {side}x{side} image out of view; shifts must be below {side}")
    padded = torch.nn.functional.pad(x.view(n, side, side), (pad, pad, pad, pad))
    ar = torch.arange(side, device=x.device)
    rows = (pad - dy.to(x.device)).view(n, 1, 1) + ar.view(1, side, 1)  # out[i, j] = in[i - dy, j - dx]
    cols = (pad - dx.to(x.device)).view(n, 1, 1) + ar.view(1, 1, side)
    return padded[torch.arange(n, device=x.device).view(n, 1, 1), rows, cols].reshape(n, side * side)


def check_jitter(max_shift: int, side: int = MNIST_SIDE) -> None:
    """Reject a shift range that is negative or moves an image out of view, saying which values work."""
    if not isinstance(max_shift, int) or isinstance(max_shift, bool) or not 0 <= max_shift < side:
        raise ValueError(f"jitter must be a whole number of pixels in [0, {side - 1}] for {side}x{side} images, not {max_shift!r} (0 switches it off; the paper uses 2)")


def jitter(x: torch.Tensor, max_shift: int, generator: torch.Generator, side: int = MNIST_SIDE) -> torch.Tensor:
    """Each image shifted by its own random (dx, dy), each uniform in -max_shift..max_shift:
    (2 max_shift + 1)^2 equally likely shifts. x: (N, side*side) -> (N, side*side)"""
    check_jitter(max_shift, side)
    if max_shift == 0:
        return x
    d = torch.randint(-max_shift, max_shift + 1, (2, x.shape[0]), generator=generator, device=x.device)
    return shift_images(x, d[0], d[1], side, max_shift)


def standardize(ds: Dataset) -> Dataset:
    """Every split with each colour channel shifted and scaled by the training split's per-channel mean
    and standard deviation (channel-major rows: channel c is the c-th block of H x W values)."""
    channels = CHANNELS[ds.name]
    x = ds.train.x.view(len(ds.train), channels, -1)
    mean = x.mean(dim=(0, 2), keepdim=True)
    std = (x - mean).pow(2).mean(dim=(0, 2), keepdim=True).sqrt()

    def apply(split: Split) -> Split:  # dataclasses.replace: Split and Dataset are only imported for typing
        return dataclasses.replace(split, x=((split.x.view(len(split), channels, -1) - mean) / std).view(len(split), -1))

    return dataclasses.replace(ds, train=apply(ds.train), val=apply(ds.val), test=apply(ds.test))
