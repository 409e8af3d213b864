"""`make publish` refuses a site built from smoke results, a site it cannot vouch for, and a dirty tree; a clean
cpu site goes to the gh-pages branch of the remote (a bare repository here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ffrepro.publish import PublishError, check_site, pages_naming_smoke, publish, site_profiles
from ffrepro.results import REPO_ROOT


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def _notebook(profile: str | None) -> dict:
    cells = [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": ['profile = "cpu"\n'], "outputs": []}]
    if profile is not None:
        cells.append({"cell_type": "code", "metadata": {"tags": ["injected-parameters"]},
                      "source": ["# Parameters\n", "seeds = [0]\n", f'profile = "{profile}"\n'], "outputs": []})
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _site(root: Path, profiles: dict[str, str | None], page_profile: str = "cpu") -> Path:
    """A site as Jupyter Book writes it: pages, and the executed notebooks kept in _sources/."""
    site = root / "html"
    (site / "executed").mkdir(parents=True)
    (site / "_sources" / "executed").mkdir(parents=True)
    (site / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=intro.html" />')
    for name, profile in profiles.items():
        (site / "_sources" / "executed" / f"{name}.ipynb").write_text(json.dumps(_notebook(profile)))
        (site / "executed" / f"{name}.html").write_text(
            f'<p>Read from the results files of the <strong><span class="pasted-text">{page_profile}</span></strong> profile.</p>')
    return site


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A clean git repository with one commit and a bare remote `origin`."""
    remote, repo = tmp_path / "remote.git", tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "test@example.invalid")
    _git(repo, "config", "user.name", "test")
    (repo / "tracked.txt").write_text("one\n")
    _git(repo, "add", "tracked.txt")
    _git(repo, "commit", "-q", "-m", "first")
    _git(repo, "remote", "add", "origin", str(remote))
    return repo


def test_a_cpu_site_from_a_clean_tree_passes_the_dry_run(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = _site(tmp_path, {"a": "cpu", "b": "cpu"})
    plan = publish(repo, site, dry_run=True)
    assert plan.profiles == {"executed/a.ipynb": "cpu", "executed/b.ipynb": "cpu"}
    assert plan.commit == _git(repo, "rev-parse", "HEAD").strip()
    assert "dry run, would push to origin/gh-pages" in capsys.readouterr().out
    assert _git(repo, "branch", "--list", "gh-pages") == ""  # nothing was written


def test_publish_pushes_the_site_to_gh_pages(repo: Path, tmp_path: Path) -> None:
    site = _site(tmp_path, {"a": "cpu"})
    publish(repo, site)
    files = _git(tmp_path / "remote.git", "ls-tree", "-r", "--name-only", "gh-pages").split()
    assert {"index.html", ".nojekyll", "executed/a.html", "_sources/executed/a.ipynb"} <= set(files)
    assert "(profile cpu)" in _git(tmp_path / "remote.git", "log", "-1", "--format=%s", "gh-pages")


@pytest.mark.parametrize(("profiles", "page_profile", "problem"), [
    ({"a": "cpu", "b": "smoke"}, "cpu", "built from smoke results (executed/b.ipynb)"),
    ({"a": "cpu"}, "smoke", "built from smoke results (executed/a.html)"),  # the page's text names smoke
    ({"a": "cpu", "b": None}, "cpu", "cannot tell which profile built executed/b.ipynb"),
    ({}, "cpu", "cannot tell which profile built"),
    ({"a": "cpu", "b": "paper"}, "cpu", "mixes profiles (cpu: 1 notebooks, paper: 1 notebooks)"),
], ids=["smoke-notebook", "smoke-page", "no-parameters", "no-notebooks", "mixed"])
def test_refuses_a_site_it_cannot_vouch_for(repo: Path, tmp_path: Path, profiles: dict[str, str | None],
                                            page_profile: str, problem: str) -> None:
    site = _site(tmp_path, profiles, page_profile)
    with pytest.raises(PublishError, match=problem.replace("(", r"\(").replace(")", r"\)")) as err:
        publish(repo, site)
    assert "\n" not in str(err.value) and "make notebooks site PROFILE=cpu" in str(err.value)
    assert _git(repo, "branch", "--list", "gh-pages") == ""


def test_refuses_a_missing_site(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="no built site at .*: build it .*make notebooks site PROFILE=cpu"):
        publish(repo, tmp_path / "nothing", dry_run=True)


def test_refuses_a_dirty_tree(repo: Path, tmp_path: Path) -> None:
    site = _site(tmp_path, {"a": "cpu"})
    (repo / "untracked.txt").write_text("results being computed\n")
    publish(repo, site, dry_run=True)  # untracked files do not count
    (repo / "tracked.txt").write_text("two\n")
    with pytest.raises(PublishError, match=r"uncommitted changes \(tracked.txt\): commit or stash them"):
        publish(repo, site, dry_run=True)
    _git(repo, "add", "tracked.txt")  # staged is still uncommitted
    with pytest.raises(PublishError, match="uncommitted changes"):
        publish(repo, site)
    assert _git(tmp_path / "remote.git", "branch", "--list", "gh-pages") == ""


def test_refuses_outside_a_git_repository(tmp_path: Path) -> None:
    site = _site(tmp_path, {"a": "cpu"})
    (tmp_path / "plain").mkdir()
    with pytest.raises(PublishError, match="failed in .*publish from a clone"):
        publish(tmp_path / "plain", site, dry_run=True)


def test_the_command_line_refuses_with_one_line(tmp_path: Path) -> None:
    site = _site(tmp_path, {"a": "smoke"})
    out = subprocess.run([sys.executable, "-m", "ffrepro", "publish", "--dry-run", "--site", str(site)],
                         cwd=REPO_ROOT, capture_output=True, text=True)
    assert out.returncode == 5, out.stderr
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("publish refused: ") and "smoke" in out.stderr


def test_the_smoke_book_is_refused(built_book: Path) -> None:
    """On the real smoke site, as the test suite builds it: the detection reads what Jupyter Book writes."""
    assert set(site_profiles(built_book).values()) == {"smoke"}
    assert "executed/mnist-ff-supervised.html" in pages_naming_smoke(built_book)
    with pytest.raises(PublishError, match="built from smoke results"):
        check_site(built_book)
