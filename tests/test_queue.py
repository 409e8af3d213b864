"""The job queue behind the paper profile on a GPU (`python -m ffrepro queue`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ffrepro.config import ConfigError
from ffrepro.queue import PRIORITY, Job, is_done, ordered_ids, plan, run_queue, summary
from ffrepro.registry import all_ids
from ffrepro.results import REPO_ROOT, result_path


def test_priority_entries_come_first_then_the_registry_order() -> None:
    ids = ordered_ids()
    assert ids[: len(PRIORITY)] == list(PRIORITY)
    assert sorted(ids) == sorted(all_ids())  # every entry and every variant
    rest = [e for e in all_ids() if e not in PRIORITY]  # variants of priority entries wait with the rest
    assert ids[len(PRIORITY) :] == rest


def test_an_unknown_entry_is_refused_before_anything_runs() -> None:
    with pytest.raises(ConfigError, match="unknown experiment 'mnist-nope'"):
        ordered_ids(["mnist-bp", "mnist-nope"])


def test_plan_skips_complete_results_and_keeps_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    done = result_path("mnist-bp", "smoke", 0)
    done.parent.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "results" / "mnist-bp" / "smoke" / "seed0.json", done)
    assert is_done("mnist-bp", "smoke", 0) and not is_done("mnist-bp", "smoke", 1)
    jobs = plan("smoke", [0, 1], ["mnist-bp", "mnist-ff-supervised"], tmp_path / "logs")
    assert [j.name for j in jobs] == ["mnist-ff-supervised/smoke/seed0", "mnist-ff-supervised/smoke/seed1", "mnist-bp/smoke/seed1"]
    done.write_text("{ cut off")  # an unreadable result is not done
    assert not is_done("mnist-bp", "smoke", 0)


def test_queue_runs_a_job_and_starts_none_without_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path / "r"))
    monkeypatch.setenv("FFREPRO_CHECKPOINTS", str(tmp_path / "c"))
    jobs = [Job("mnist-bp", (0,), "smoke", tmp_path / "logs" / "a.log"), Job("mnist-bp", (1,), "smoke", tmp_path / "logs" / "b.log")]
    out = run_queue(jobs[:1], parallel=1, budget_s=300, min_start_s=1, poll_s=0.2)
    assert out[0].returncode == 0, out[0].log.read_text()[-2000:]
    assert result_path("mnist-bp", "smoke", 0).exists()
    assert "3/3 epochs, test.bp" in summary(out)
    late = run_queue(jobs[1:], parallel=1, budget_s=5, min_start_s=60, poll_s=0.2)
    assert late[0].returncode is None and "not run" in summary(late)
    assert not result_path("mnist-bp", "smoke", 1).exists()


def test_stacking_makes_one_job_of_an_entrys_missing_seeds_where_its_config_stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path / "r"))
    monkeypatch.setenv("FFREPRO_CHECKPOINTS", str(tmp_path / "c"))
    done = result_path("mnist-bp", "smoke", 0)
    done.parent.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "results" / "mnist-bp" / "smoke" / "seed0.json", done)
    jobs = plan("smoke", [0, 1], ["mnist-bp", "mnist-ff-hard-negatives", "mnist-ff-hard-negatives/bf16"], tmp_path / "logs", stack=True)
    # bf16 products do not stack; bp's seed 0 is done, so its one missing seed runs alone
    assert [j.name for j in jobs] == ["mnist-ff-hard-negatives/smoke/seed0,1", "mnist-bp/smoke/seed1",
                                      "mnist-ff-hard-negatives/bf16/smoke/seed0", "mnist-ff-hard-negatives/bf16/smoke/seed1"]
    cmd = jobs[0].command("python", 5.0)
    assert cmd[cmd.index("--seed") + 1 : cmd.index("--seed") + 4] == ["0", "1", "--stack"]
    assert "--stack" not in jobs[1].command("python", 5.0)
    out = run_queue(jobs[:1], parallel=1, budget_s=300, min_start_s=1, poll_s=0.2)
    assert out[0].returncode == 0, out[0].log.read_text()[-2000:]
    assert "stacked into one model" in out[0].log.read_text()
    text = summary(out)
    assert "seed 0: 3/3 epochs" in text and "seed 1: 3/3 epochs" in text
