"""Runs never collide (issue 26, item 3): a config changed with ``--set`` writes its results and
checkpoints under ``ID/PROFILE/set-CHANGES-HASH/``, never over the registry's files, and a checkpoint of
another config found at a run's path is moved aside, never overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffrepro.cli import main
from ffrepro.config import override
from ffrepro.registry import get_experiment
from ffrepro.results import SCHEMA_VERSION, load_results, result_path, write_result
from ffrepro.runner import checkpoint_path, run, set_folder

EXP = "mnist-bp"
SMALL = {"data.train_examples": "1000", "data.eval_examples": "500", "optim.epochs": "1"}  # seconds on a CPU


def _registry_result(seed: int) -> dict:
    """A results file of the registry's smoke config (the shape the readers index)."""
    return {
        "schema_version": SCHEMA_VERSION, "experiment": EXP, "profile": "smoke", "seed": seed, "complete": True, "epochs_done": 3,
        "config": get_experiment(EXP).config("smoke").to_dict(), "final": {"test": {"bp": 2.5}}, "history": [],
        "wall_time_s": {"train": 1.0, "evaluate": 1.0}, "provenance": {"device": "cpu"},
    }


def test_the_set_folder_names_the_changes_and_the_config() -> None:
    exp = get_experiment(EXP)
    smoke = exp.config("smoke")
    assert set_folder(EXP, "smoke", smoke) is None  # the registry's own config keeps ID/PROFILE/seedS.json
    assert set_folder(EXP, "smoke", override(smoke, {"optim.epochs": "3"})) is None  # a --set that changes nothing
    one = set_folder(EXP, "smoke", override(smoke, {"optim.epochs": "1"}))
    assert one is not None and one.startswith("set-optim.epochs=1-") and len(one.rsplit("-", 1)[1]) == 8
    assert set_folder(EXP, "smoke", override(smoke, {"optim.epochs": "1"})) == one  # the same config, the same folder
    two = set_folder(EXP, "smoke", override(smoke, {"optim.epochs": "1", "model.hidden": "50x50"}))
    assert two is not None and two.startswith("set-model.hidden=50x50,optim.epochs=1-") and two != one
    assert set_folder(EXP, "paper", exp.config("smoke")) is not None  # smoke's config run as "paper" is not paper's
    long = set_folder(EXP, "smoke", override(smoke, {"model.hidden": "x".join(["7"] * 60)}))
    assert long is not None and len(long) == len("set-") + 100 + 9 and "..." in long and "/" not in long


def test_a_set_run_leaves_the_registry_files_byte_identical_and_writes_to_its_own_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path / "r"))
    monkeypatch.setenv("FFREPRO_CHECKPOINTS", str(tmp_path / "c"))
    registry_file = result_path(EXP, "smoke", 0, tmp_path / "r")
    write_result(registry_file, _registry_result(0))
    registry_ckpt = checkpoint_path(EXP, "smoke", 0, tmp_path / "c")
    registry_ckpt.parent.mkdir(parents=True)
    registry_ckpt.write_bytes(b"a multi-hour checkpoint")
    before = registry_file.read_bytes()
    sets = [a for key, value in SMALL.items() for a in ("--set", f"{key}={value}")]
    assert main(["run", EXP, "--profile", "smoke", "--device", "cpu", "--no-progress", *sets]) == 0
    assert registry_file.read_bytes() == before and registry_ckpt.read_bytes() == b"a multi-hour checkpoint"
    folder = set_folder(EXP, "smoke", override(get_experiment(EXP).config("smoke"), SMALL))
    assert folder == "set-data.eval_examples=500,data.train_examples=1000,optim.epochs=1-" + folder.rsplit("-", 1)[1]
    written = result_path(EXP, "smoke", 0, tmp_path / "r", folder)
    assert written.exists() and checkpoint_path(EXP, "smoke", 0, tmp_path / "c", folder).exists()
    # the book's and the report's readers see the entry's own results only
    assert [r["final"] for r in load_results(EXP, "smoke", tmp_path / "r")] == [{"test": {"bp": 2.5}}]
    # the same command again reuses its own result
    stamp = written.stat().st_mtime_ns
    assert main(["run", EXP, "--profile", "smoke", "--device", "cpu", "--no-progress", *sets]) == 0
    assert written.stat().st_mtime_ns == stamp and registry_file.read_bytes() == before


@pytest.mark.parametrize("fresh", [False, True])
def test_a_checkpoint_of_another_config_is_moved_aside_and_kept(fresh: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    smoke = get_experiment(EXP).config("smoke")
    other = override(smoke, {**SMALL, "optim.epochs": "2"})
    mine = override(smoke, {**SMALL, "model.hidden": "50x50x50"})
    where = dict(device="cpu", progress=False, results_dir=tmp_path / "r", checkpoint_dir=tmp_path / "c")
    run(EXP, "smoke", 0, config=other, stop_after_epochs=1, **where)
    ckpt = checkpoint_path(EXP, "smoke", 0, tmp_path / "c", set_folder(EXP, "smoke", mine))
    ckpt.parent.mkdir(parents=True)
    theirs = checkpoint_path(EXP, "smoke", 0, tmp_path / "c", set_folder(EXP, "smoke", other)).read_bytes()
    ckpt.write_bytes(theirs)  # another config's checkpoint where this run keeps its own
    capsys.readouterr()
    result = run(EXP, "smoke", 0, config=mine, fresh=fresh, **where)
    err = capsys.readouterr().err
    aside = list(ckpt.parent.glob("seed0.pt.other-config-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == theirs
    assert f"checkpoint {ckpt} has another config; moved it to {aside[0]}" in err
    assert result["complete"] and ckpt.exists() and ckpt.read_bytes() != theirs
