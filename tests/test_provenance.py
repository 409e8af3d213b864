"""Provenance records what git says, and "unknown" where it cannot tell (issue 26, item 6)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import ffrepro.results as results
from ffrepro.results import CODE_STATUS, COMMIT_ENV, DIRTY_ENV, REPO_ROOT, UNKNOWN, git_state, provenance

HEAD = "0123456789abcdef0123456789abcdef01234567"
TRAVELLED = "fedcba9876543210fedcba9876543210fedcba98"


def _fake_git(top: str | None = str(REPO_ROOT), head: str | None = HEAD, status: str | None = "") -> Callable[..., str | None]:
    """A stand-in for results._git: what git would answer (None: it cannot)."""
    answers = {("rev-parse", "--show-toplevel"): top, ("rev-parse", "HEAD"): head, CODE_STATUS: status}
    return lambda *args: answers[args]


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(COMMIT_ENV, raising=False)
    monkeypatch.delenv(DIRTY_ENV, raising=False)


@pytest.mark.parametrize(("status", "dirty"), [("", False), (" M ffrepro/results.py", True), (None, UNKNOWN)])
def test_where_git_answers_its_commit_and_state_are_recorded_whatever_the_environment_says(status: str | None, dirty: bool | str,
                                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results, "_git", _fake_git(status=status))
    assert git_state() == (HEAD, dirty)
    monkeypatch.setenv(COMMIT_ENV, TRAVELLED)
    monkeypatch.setenv(DIRTY_ENV, "false")
    assert git_state() == (HEAD, dirty)  # git answers: the environment is not trusted over it


@pytest.mark.parametrize(
    ("commit", "dirty", "expected"),
    [
        (TRAVELLED, "false", (TRAVELLED, False)),
        (TRAVELLED, "true", (TRAVELLED, True)),
        (TRAVELLED, "1", (TRAVELLED, True)),
        (TRAVELLED, " 0\n", (TRAVELLED, False)),
        (TRAVELLED, None, (UNKNOWN, UNKNOWN)),  # only one of the two set
        (None, "false", (UNKNOWN, UNKNOWN)),
        (None, None, (UNKNOWN, UNKNOWN)),
        (TRAVELLED, "", (UNKNOWN, UNKNOWN)),  # an empty DIRTY file is not "clean"
        (TRAVELLED, " M ffrepro/results.py", (UNKNOWN, UNKNOWN)),  # git status output, not true/false
        (TRAVELLED, "yes", (UNKNOWN, UNKNOWN)),
        ("HEAD", "false", (UNKNOWN, UNKNOWN)),  # not a commit hash
        ("", "false", (UNKNOWN, UNKNOWN)),
    ],
)
def test_where_git_cannot_answer_the_environment_counts_only_if_both_are_set_and_well_formed(
        commit: str | None, dirty: str | None, expected: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results, "_git", _fake_git(top=None, head=None, status=None))
    for name, value in ((COMMIT_ENV, commit), (DIRTY_ENV, dirty)):
        if value is not None:
            monkeypatch.setenv(name, value)
    assert git_state() == expected


def test_git_of_another_checkout_or_without_a_dot_git_is_not_believed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of the tree inside someone else's repository: git would answer with that one's HEAD."""
    monkeypatch.setattr(results, "_git", _fake_git(top=str(tmp_path)))
    assert git_state() == (UNKNOWN, UNKNOWN)
    monkeypatch.setenv(COMMIT_ENV, TRAVELLED)
    monkeypatch.setenv(DIRTY_ENV, "true")
    assert git_state() == (TRAVELLED, True)
    monkeypatch.setattr(results, "REPO_ROOT", tmp_path)  # a copy without .git, git answering for a folder above it
    monkeypatch.setattr(results, "_git", _fake_git(top=str(tmp_path)))
    assert git_state() == (TRAVELLED, True)


def test_provenance_says_unknown_where_nothing_can_tell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results, "_git", _fake_git(top=None, head=None, status=None))
    prov = provenance(torch.device("cpu"), {})
    assert prov["git_commit"] == UNKNOWN and prov["git_dirty"] == UNKNOWN
    monkeypatch.setattr(results, "_git", _fake_git(status="?? new\n M x"))
    prov = provenance(torch.device("cpu"), {})
    assert prov["git_commit"] == HEAD and prov["git_dirty"] is True


@pytest.mark.skipif(shutil.which("git") is None or not (REPO_ROOT / ".git").exists(), reason="needs git and this checkout's .git")
def test_this_checkout_records_what_git_says() -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()

    commit, dirty = git_state()
    assert commit == git("rev-parse", "HEAD")
    assert dirty is bool(git(*CODE_STATUS))


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_results_files_written_since_the_commit_do_not_make_the_code_dirty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A campaign's second seed runs beside the first one's new results file: the code is still the commit's."""
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "seed0.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "start")
    monkeypatch.setattr(results, "REPO_ROOT", tmp_path.resolve())
    (tmp_path / "results" / "seed0.json").write_text('{"complete": true}')
    assert git_state()[1] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_state()[1] is True


@pytest.mark.skipif(shutil.which("git") is None or not (REPO_ROOT / ".git").exists(), reason="needs git and this checkout's .git")
def test_the_gpu_script_stamps_the_commit_that_travels_with_the_tree(tmp_path: Path) -> None:
    """``scripts/paper_on_gpu.sh --stamp DIR``: COMMIT is git's HEAD, DIRTY is true or false (what
    git_state parses), TREE the sha256 of every tracked file, which the script checks on the GPU machine."""
    out = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "paper_on_gpu.sh"), "--stamp", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert (tmp_path / "COMMIT").read_text().strip() == head
    assert (tmp_path / "DIRTY").read_text().strip() in ("true", "false")
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.split("\n")
    hashed = {line.split("  ", 1)[1] for line in (tmp_path / "TREE").read_text().splitlines()}
    assert hashed == {f for f in tracked if f and (REPO_ROOT / f).is_file()}
