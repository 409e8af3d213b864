"""`make publish` refuses a site built from smoke results, a site it cannot vouch for, a site that read results
files not committed as they were read, a dirty tree, and a source branch as the target; a clean cpu site goes to
the gh-pages branch of the remote (a bare repository here). The notebooks' list of the results files they read
(ffrepro.figures.common.record_results_reads) is checked in a process of its own: its hook lasts as long as the process."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ffrepro.figures import common
from ffrepro.figures.common import RESULTS_READ_ENV, git_blob_sha, results_read_line
from ffrepro.publish import MANIFEST, PublishError, check_site, pages_naming_smoke, publish, read_manifest, site_profiles
from ffrepro.results import REPO_ROOT

RESULT = "results/mnist-bp/cpu/seed0.json"  # the results file the repo fixture commits
RESULT_BYTES = b'{"seed": 0}\n'


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def _notebook(profile: str | None) -> dict:
    cells = [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": ['profile = "cpu"\n'], "outputs": []}]
    if profile is not None:
        cells.append({"cell_type": "code", "metadata": {"tags": ["injected-parameters"]},
                      "source": ["# Parameters\n", "seeds = [0]\n", f'profile = "{profile}"\n'], "outputs": []})
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _site(root: Path, profiles: dict[str, str | None], page_profile: str = "cpu",
          reads: dict[str, bytes] | None = None) -> Path:
    """A site as Jupyter Book writes it: pages, the executed notebooks kept in _sources/, and the list of the
    results files the notebooks read (path -> the bytes read; default: the committed results file; None: no list)."""
    site = root / "html"
    (site / "executed").mkdir(parents=True)
    (site / "_sources" / "executed").mkdir(parents=True)
    (site / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=intro.html" />')
    for name, profile in profiles.items():
        (site / "_sources" / "executed" / f"{name}.ipynb").write_text(json.dumps(_notebook(profile)))
        (site / "executed" / f"{name}.html").write_text(
            f'<p>Read from the results files of the <strong><span class="pasted-text">{page_profile}</span></strong> profile.</p>')
    _manifest(site, {RESULT: RESULT_BYTES} if reads is None else reads)
    return site


def _manifest(site: Path, reads: dict[str, bytes]) -> None:
    (site / MANIFEST).parent.mkdir(parents=True, exist_ok=True)
    (site / MANIFEST).write_text("".join(f"{_blob(data)} {name}\n" for name, data in reads.items()))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A clean git repository with one commit (a file, and a results file) and a bare remote `origin`."""
    remote, repo = tmp_path / "remote.git", tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "test@example.invalid")
    _git(repo, "config", "user.name", "test")
    (repo / "tracked.txt").write_text("one\n")
    (repo / RESULT).parent.mkdir(parents=True)
    (repo / RESULT).write_bytes(RESULT_BYTES)
    _git(repo, "add", "tracked.txt", RESULT)
    _git(repo, "commit", "-q", "-m", "first")
    _git(repo, "remote", "add", "origin", str(remote))
    return repo


def test_a_cpu_site_from_a_clean_tree_passes_the_dry_run(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = _site(tmp_path, {"a": "cpu", "b": "cpu"})
    plan = publish(repo, site, dry_run=True)
    assert plan.profiles == {"executed/a.ipynb": "cpu", "executed/b.ipynb": "cpu"}
    assert plan.commit == _git(repo, "rev-parse", "HEAD").strip()
    assert plan.results_read == 1
    out = capsys.readouterr().out
    assert "dry run, would push to origin/gh-pages" in out and "reading 1 committed results files" in out
    assert _git(repo, "branch", "--list", "gh-pages") == ""  # nothing was written


def test_publish_pushes_the_site_to_gh_pages(repo: Path, tmp_path: Path) -> None:
    site = _site(tmp_path, {"a": "cpu"})
    publish(repo, site)
    publish(repo, site)  # again: the gh-pages branch ghp-import made shares no history with the source
    files = _git(tmp_path / "remote.git", "ls-tree", "-r", "--name-only", "gh-pages").split()
    assert {"index.html", ".nojekyll", "executed/a.html", "_sources/executed/a.ipynb", MANIFEST} <= set(files)
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


def test_refuses_a_site_without_the_list_of_results_files_it_read(repo: Path, tmp_path: Path) -> None:
    site = _site(tmp_path, {"a": "cpu"})
    (site / MANIFEST).unlink()
    with pytest.raises(PublishError, match=r"does not list the results files .*is missing\), so the current code did "
                                           r"not build it: rebuild it with `make notebooks site PROFILE=cpu`") as err:
        publish(repo, site)
    assert "\n" not in str(err.value)
    (site / MANIFEST).write_text(f"{RESULT}\n")  # not BLOB PATH
    with pytest.raises(PublishError, match=r"line 1 of .* is not `BLOB PATH`.*: rebuild the site with `make notebooks"):
        publish(repo, site)
    assert _git(tmp_path / "remote.git", "branch", "--list", "gh-pages") == ""


def test_refuses_a_site_that_read_results_files_git_does_not_track(repo: Path, tmp_path: Path) -> None:
    new, data = "results/mnist-bp/cpu/seed1.json", b'{"seed": 1}\n'
    (repo / new).write_bytes(data)  # a result still being computed: on disk, so the notebooks read it
    site = _site(tmp_path / "read", {"a": "cpu"}, reads={RESULT: RESULT_BYTES, new: data})
    problem = r"read results files that git does not track \(results/mnist-bp/cpu/seed1.json\): commit them"
    with pytest.raises(PublishError, match=problem + r" \(or delete them\), rebuild with `make notebooks site PROFILE=cpu`, then publish") as err:
        publish(repo, site)
    assert "\n" not in str(err.value)
    publish(repo, _site(tmp_path / "unread", {"a": "cpu"}), dry_run=True)  # untracked and not read: no matter
    (repo / ".gitignore").write_text("*.json\n")
    _git(repo, "add", ".gitignore")
    _git(repo, "commit", "-q", "-m", "ignore")
    with pytest.raises(PublishError, match=problem):  # ignored is untracked too
        publish(repo, site, dry_run=True)
    _git(repo, "add", "-f", new)  # staged is not committed
    with pytest.raises(PublishError, match=r"read results files that are not committed \(results/mnist-bp/cpu/seed1.json\): commit them"):
        publish(repo, site, dry_run=True)
    _git(repo, "commit", "-q", "-m", "seed 1")
    assert publish(repo, site, dry_run=True).results_read == 2  # committed as it was read: the site is HEAD's
    assert _git(tmp_path / "remote.git", "branch", "--list", "gh-pages") == ""


def test_refuses_a_site_that_read_results_files_other_than_the_committed_ones(repo: Path, tmp_path: Path) -> None:
    changed = b'{"seed": 0, "error": 0.5}\n'
    (repo / RESULT).write_bytes(changed)
    site = _site(tmp_path, {"a": "cpu"}, reads={RESULT: changed})
    problem = (r"read results files that differ from the committed ones \(results/mnist-bp/cpu/seed0.json\): commit them "
               r"or restore them \(`git checkout -- FILE`\), rebuild with `make notebooks site PROFILE=cpu`, then publish")
    with pytest.raises(PublishError, match=problem):
        publish(repo, site)
    _git(repo, "checkout", "--", RESULT)  # restored after the build: the tree is clean, the site still is not
    with pytest.raises(PublishError, match=problem):
        publish(repo, site)
    _manifest(site, {RESULT: RESULT_BYTES})
    with (site / MANIFEST).open("a") as f:  # the file changed while the notebooks ran: read both ways
        f.write(f"{_blob(changed)} {RESULT}\n")
    with pytest.raises(PublishError, match=problem):
        publish(repo, site)
    assert _git(tmp_path / "remote.git", "branch", "--list", "gh-pages") == ""


def test_refuses_a_site_that_read_results_from_outside_the_repository(repo: Path, tmp_path: Path) -> None:
    elsewhere = str(tmp_path / "elsewhere" / "mnist-bp" / "cpu" / "seed0.json")
    for n, name in enumerate([elsewhere, "../elsewhere/mnist-bp/cpu/seed0.json"]):
        site = _site(tmp_path / f"site{n}", {"a": "cpu"}, reads={RESULT: RESULT_BYTES, name: RESULT_BYTES})
        with pytest.raises(PublishError, match=r"read results from outside the repository \(.*elsewhere/mnist-bp/cpu/seed0.json\): "
                                               r"unset FFREPRO_RESULTS and rebuild it .*`make notebooks site PROFILE=cpu`"):
            publish(repo, site, dry_run=True)


@pytest.mark.parametrize(("branch", "reason"), [
    ("main", "the branch checked out"),
    ("master", "a source branch name"),
    ("trunk", "the default branch of origin"),
    ("feature", r"a branch that shares history with the checked-out commit \(heads/feature\)"),
    ("pushed", r"a branch that shares history with the checked-out commit \(remotes/origin/pushed\)"),
])
def test_refuses_to_publish_over_a_source_branch(repo: Path, tmp_path: Path, branch: str, reason: str) -> None:
    _git(repo, "branch", "feature")
    _git(repo, "update-ref", "refs/remotes/origin/trunk", "HEAD")
    _git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/trunk")
    _git(repo, "update-ref", "refs/remotes/origin/pushed", "HEAD")
    site = _site(tmp_path, {"a": "cpu"})
    with pytest.raises(PublishError, match=f"--branch {branch} is {reason}, and ghp-import would force-push the site over "
                                           r"it: publish to the site's own branch \(the default, `--branch gh-pages`\)") as err:
        publish(repo, site, branch=branch)
    assert "\n" not in str(err.value)
    assert _git(tmp_path / "remote.git", "branch", "--list") == ""
    assert publish(repo, site, dry_run=True, branch="site").command[-5:-3] == ["-b", "site"]  # a new branch is fine


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


def test_the_command_line_refuses_the_source_branch(tmp_path: Path) -> None:
    site = _site(tmp_path, {"a": "cpu"})
    out = subprocess.run([sys.executable, "-m", "ffrepro", "publish", "--dry-run", "--site", str(site), "--branch", "main"],
                         cwd=REPO_ROOT, capture_output=True, text=True)
    assert out.returncode == 5, out.stderr
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("publish refused: --branch main is ")


def test_the_notebooks_list_every_results_file_they_read(tmp_path: Path) -> None:
    """In a process of its own, as a notebook kernel under `make notebooks`: importing the figures' common module
    with FFREPRO_RESULTS_READ set lists every results file then read, by any reader, each once; writes and other
    files are not listed."""
    root, manifest = tmp_path / "results", tmp_path / "build" / "results-read.txt"
    result, study = root / "mnist-bp" / "cpu" / "seed0.json", root / "memory-depth" / "cpu" / "seed0.json"
    for path in (result, study):
        path.parent.mkdir(parents=True)
        path.write_bytes((REPO_ROOT / "results" / path.relative_to(root)).read_bytes())
    (tmp_path / "other.json").write_text("{}\n")
    script = """if True:
        import sys, zipfile
        from pathlib import Path
        from ffrepro.figures import common, chapter
        from ffrepro.memory import load_study
        from ffrepro.results import load_results, results_root, write_result
        root = results_root()
        assert [r["seed"] for r in load_results("mnist-bp", "cpu")] == [0]
        load_results("mnist-bp", "cpu")  # read again: listed once
        load_study("cpu")
        chapter.write_downloads("x", ["mnist-bp"], "cpu", {}, memory=True, folder=Path(sys.argv[1]))  # zips the files
        write_result(root / "mnist-bp" / "cpu" / "seed1.json", {"seed": 1})  # a write is not a read
        (root.parent / "other.json").read_text()  # not a results file
    """
    env = {**os.environ, "FFREPRO_RESULTS": str(root), RESULTS_READ_ENV: str(manifest)}
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "downloads")], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    blobs = {p: subprocess.run(["git", "hash-object", str(p)], check=True, capture_output=True, text=True).stdout.strip()
             for p in (result, study)}
    assert manifest.read_text().splitlines() == [f"{blobs[result]} {result}", f"{blobs[study]} {study}"]
    site = _site(tmp_path / "site", {"a": "cpu"}, reads={})
    (site / MANIFEST).write_text(manifest.read_text())
    assert read_manifest(site) == {str(result): {blobs[result]}, str(study): {blobs[study]}}


def test_results_inside_the_repository_are_listed_by_their_path_from_its_root(monkeypatch: pytest.MonkeyPatch) -> None:
    line = results_read_line(str(REPO_ROOT / "results" / "mnist-bp" / "cpu" / "seed0.json"), RESULT_BYTES)
    assert line == f"{_blob(RESULT_BYTES)} {RESULT}\n"
    assert git_blob_sha(RESULT_BYTES) == _blob(RESULT_BYTES)


def test_nothing_is_recorded_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RESULTS_READ_ENV, raising=False)
    monkeypatch.setattr(common, "_recording", {})
    assert common.record_results_reads() is None and common._recording == {}  # returns before installing a hook


def test_the_smoke_book_is_refused(built_book: Path) -> None:
    """On the real smoke site, as the test suite builds it: the detection reads what Jupyter Book writes."""
    assert set(site_profiles(built_book).values()) == {"smoke"}
    assert "executed/mnist-ff-supervised.html" in pages_naming_smoke(built_book)
    with pytest.raises(PublishError, match="built from smoke results"):
        check_site(built_book)
    read = read_manifest(built_book)  # the notebooks listed the results files they read
    assert any(str(name).endswith("mnist-ff-supervised/smoke/seed0.json") for name in read), read
