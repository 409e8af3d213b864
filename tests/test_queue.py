"""The job queue behind the paper profile on a GPU (`python -m ffrepro queue`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ffrepro.config import ConfigError
from ffrepro.queue import CAMPAIGN, PRIORITY, Job, is_done, land, landable, ordered_ids, plan, progress_text, run_queue, summary
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


def test_stacking_makes_one_job_of_an_entrys_missing_seeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path / "r"))
    monkeypatch.setenv("FFREPRO_CHECKPOINTS", str(tmp_path / "c"))
    done = result_path("mnist-bp", "smoke", 0)
    done.parent.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "results" / "mnist-bp" / "smoke" / "seed0.json", done)
    jobs = plan("smoke", [0, 1], ["mnist-bp", "mnist-ff-hard-negatives", "mnist-ff-recurrent-2layers/bf16"], tmp_path / "logs", stack=True)
    # every config stacks (recurrent FF's bf16 products too); bp's seed 0 is done, so its one missing seed runs alone
    assert [j.name for j in jobs] == ["mnist-ff-hard-negatives/smoke/seed0,1", "mnist-bp/smoke/seed1", "mnist-ff-recurrent-2layers/bf16/smoke/seed0,1"]
    cmd = jobs[0].command("python", 5.0)
    assert cmd[cmd.index("--seed") + 1 : cmd.index("--seed") + 4] == ["0", "1", "--stack"]
    assert "--stack" not in jobs[1].command("python", 5.0)
    out = run_queue(jobs[:1], parallel=1, budget_s=300, min_start_s=1, poll_s=0.2)
    assert out[0].returncode == 0, out[0].log.read_text()[-2000:]
    assert "stacked into one model" in out[0].log.read_text()
    text = summary(out)
    assert "seed 0: 3/3 epochs" in text and "seed 1: 3/3 epochs" in text


def test_the_campaign_runs_in_its_own_order_and_says_when_each_job_will_finish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    jobs = plan("paper", [0, 1, 2], list(CAMPAIGN), tmp_path / "logs", keep_order=True)
    assert [j.exp_id for j in jobs[::3]] == list(CAMPAIGN)  # not PRIORITY's order
    job = jobs[0]
    job.log.parent.mkdir(parents=True)
    job.started = 1_000.0
    assert "no epoch finished yet" in progress_text(job, now=1_600.0)
    lines = [f"[ffrepro 10:00:00] {job.name} epoch {k}/60: val_error_softmax=2.0, seconds={s}" for k, s in ((1, 50.0), (2, 40.0), (3, 60.0))]
    job.log.write_text("\n".join(lines) + "\n")
    text = progress_text(job, now=1_600.0)
    assert "epoch 3/60" in text and "50 s an epoch" in text and "(0.8 h)" in text  # 57 epochs x 50 s (the median)


def test_landing_copies_only_finished_results_of_the_current_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path / "main"))
    source = tmp_path / "tree"
    committed = REPO_ROOT / "results" / "mnist-bp" / "paper" / "seed0.json"
    for seed, complete in ((0, True), (1, False)):
        path = result_path("mnist-bp", "paper", seed, source)
        path.parent.mkdir(parents=True, exist_ok=True)
        result = json.loads(committed.read_text())
        result["complete"] = complete
        path.write_text(json.dumps(result))
    pairs = landable(source, ("mnist-bp",))
    assert [dst for _, dst in pairs] == [result_path("mnist-bp", "paper", 0)]
    land(pairs)
    assert result_path("mnist-bp", "paper", 0).read_bytes() == result_path("mnist-bp", "paper", 0, source).read_bytes()
    assert landable(source, ("mnist-bp",)) == []  # landed once


def test_the_campaign_command_lists_its_jobs_in_order_and_refuses_other_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from ffrepro.cli import main

    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    assert main(["queue", "--campaign", "--list"]) == 0
    lines = capsys.readouterr().out.split()
    assert lines[:6] == ["mnist-ff-supervised", "0", "mnist-ff-supervised", "1", "mnist-ff-supervised", "2"] and lines[6] == CAMPAIGN[1]
    assert main(["queue", "--campaign", "--profile", "cpu", "--list"]) == 2
    assert "queue --campaign runs" in capsys.readouterr().err
