"""Publishing the built book to the repository's gh-pages branch (``make publish``, ``python -m ffrepro publish``).

The site goes out with ghp-import (``ghp-import -n -p -f``: a .nojekyll file, push, force), the route
Jupyter Book 1's documentation gives, and only if it can be trusted:

- it exists (``book/_build/html/index.html``);
- every page was built from real results: the profile each notebook was executed with (papermill's injected
  parameters cell, in the copy of the executed notebook that the build keeps in ``_sources/``) is known and is
  not ``smoke``, and no page names the smoke profile in its text (the chapters say "read from the results files
  of the **cpu** profile"); a site whose pages come from different profiles is refused too;
- every results file the notebooks read is committed, as it was read: ``make notebooks`` has the notebook kernels
  list each one in a manifest (``FFREPRO_RESULTS_READ``, :func:`ffrepro.figures.common.record_results_reads`), which
  the build copies into the site (``downloads/results-read.txt``, one line ``BLOB PATH`` each), and each file's git
  blob id must be the one the checked-out commit holds at that path. A site without the manifest was not built by
  this code, and one that read results from outside the repository (``FFREPRO_RESULTS``) cannot be from the commit;
- the working tree has no uncommitted change to a tracked file (``git status --porcelain``; untracked files,
  such as results being computed, do not count unless a page read them), so the site is the one the checked-out
  commit builds;
- the branch it writes is not a source branch: ghp-import force-pushes, so ``--branch main`` would replace the
  source's history with the site. Refused: the branch checked out, ``main`` and ``master``, the remote's default
  branch, and any branch (local, or the remote's as last fetched) that shares history with the checked-out commit.

What it cannot see: a site built from a dirty tree of code (not results) that was cleaned before publishing
(rebuild after committing).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ffrepro.results import REPO_ROOT

SITE = REPO_ROOT / "book" / "_build" / "html"
REBUILD = "make notebooks site PROFILE=cpu"
SMOKE = "smoke"
# The results files the notebooks read, as the site holds it: `make notebooks` writes book/_extra/downloads/
# results-read.txt (FFREPRO_RESULTS_READ) and the build copies book/_extra/ to the site's root.
MANIFEST = "downloads/results-read.txt"
# Branch names that hold the source wherever they exist; the checked-out and the remote's default branch are asked of git.
SOURCE_BRANCHES = ("main", "master")
# How a chapter names the profile of its numbers: "... the results files of the <strong>cpu</strong> profile".
_PAGE_PROFILE = re.compile(r'<strong><span class="pasted-text">([\w-]+)</span></strong>\s+profile')


class PublishError(Exception):
    """Why the site must not be published, and what to do: one line."""


@dataclass(frozen=True)
class Plan:
    """What would be pushed: the site, its files, the profiles that built it, the commit it comes from, and how
    many (committed) results files its notebooks read."""

    site: Path
    files: int
    size: int
    profiles: dict[str, str]
    commit: str
    command: list[str]
    results_read: int

    def describe(self) -> str:
        profiles = ", ".join(sorted(set(self.profiles.values())))
        return (f"{self.site}: {self.files} files, {self.size / 2**20:.1f} MiB, {len(self.profiles)} executed "
                f"notebooks (profile {profiles}) reading {self.results_read} committed results files, from commit "
                f"{self.commit[:12]}\n  {shlex.join(self.command)}")


def _notebook_profile(path: Path) -> str | None:
    """The profile papermill injected into an executed notebook, or None if it carries none."""
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    for cell in nb.get("cells", []):
        if "injected-parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        source = "".join(cell.get("source", []))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return None
        for node in tree.body:
            if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "profile" for t in node.targets)
                    and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                return node.value.value
    injected = nb.get("metadata", {}).get("papermill", {}).get("parameters", {}).get("profile")
    return injected if isinstance(injected, str) else None


def site_profiles(site: Path) -> dict[str, str]:
    """Executed notebook (relative to the site) -> the profile it was executed with; raises if one is unknown."""
    notebooks = sorted((site / "_sources").rglob("*.ipynb"))
    if not notebooks:
        raise PublishError(f"cannot tell which profile built {site}: it keeps no executed notebooks in _sources/; "
                           f"rebuild it with `{REBUILD}`")
    profiles = {}
    for nb in notebooks:
        name = nb.relative_to(site / "_sources").as_posix()
        profile = _notebook_profile(nb)
        if profile is None:
            raise PublishError(f"cannot tell which profile built {name} (no papermill parameters in "
                               f"_sources/{name}); rebuild the site with `{REBUILD}`")
        profiles[name] = profile
    return profiles


def pages_naming_smoke(site: Path) -> list[str]:
    """HTML pages whose text says their numbers come from the smoke profile."""
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if not p.relative_to(site).parts[0].startswith("_")
                  and SMOKE in _PAGE_PROFILE.findall(p.read_text(errors="replace")))


def check_site(site: Path) -> dict[str, str]:
    """The profiles that built the site; raises PublishError if it is missing, from smoke results or mixed."""
    if not (site / "index.html").is_file():
        raise PublishError(f"no built site at {site}: build it from the committed results with `{REBUILD}`")
    profiles = site_profiles(site)
    smoke = sorted(name for name, profile in profiles.items() if profile == SMOKE) or pages_naming_smoke(site)
    if smoke:
        raise PublishError(f"{site} was built from smoke results ({', '.join(smoke[:3])}"
                           f"{', ...' if len(smoke) > 3 else ''}): rebuild it with `{REBUILD}` (or PROFILE=paper)")
    if len(set(profiles.values())) > 1:
        mixed = ", ".join(f"{p}: {sum(v == p for v in profiles.values())} notebooks" for p in sorted(set(profiles.values())))
        raise PublishError(f"{site} mixes profiles ({mixed}): rebuild every page with one profile, `{REBUILD}`")
    return profiles


def _names(paths: list[str]) -> str:
    """The first three of ``paths``, and "..." if there are more."""
    return ", ".join(paths[:3]) + (", ..." if len(paths) > 3 else "")


def read_manifest(site: Path) -> dict[str, set[str]]:
    """Results file (relative to the repository root, or absolute) -> the git blob ids it was read with, from
    the site's :data:`MANIFEST`; raises PublishError if the site has none or it is not ``BLOB PATH`` lines."""
    path = site / MANIFEST
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise PublishError(f"{site} does not list the results files it was read from ({MANIFEST} is missing), so the "
                           f"current code did not build it: rebuild it with `{REBUILD}`") from None
    reads: dict[str, set[str]] = {}
    for n, line in enumerate(lines, 1):
        blob, _, name = line.partition(" ")
        if not re.fullmatch(r"[0-9a-f]{40}", blob) or not name:
            raise PublishError(f"line {n} of {path} is not `BLOB PATH` ({line[:60]!r}): rebuild the site with `{REBUILD}`")
        reads.setdefault(name, set()).add(blob)
    return reads


def check_reads(repo: Path, site: Path) -> int:
    """How many results files the site read; raises PublishError if one lies outside the repository, is not
    in the checked-out commit (untracked, ignored or only staged), or was read with other content than it has there."""
    reads = read_manifest(site)
    outside = sorted(name for name in reads if Path(name).is_absolute() or name.split("/")[0] == "..")
    if outside:
        raise PublishError(f"the site read results from outside the repository ({_names(outside)}): unset FFREPRO_RESULTS "
                           f"and rebuild it from the committed results with `{REBUILD}`")
    committed = {}
    for entry in _git(repo, "ls-tree", "-r", "-z", "HEAD").split("\0"):
        meta, _, name = entry.partition("\t")
        if name:
            committed[name] = meta.split()[2]
    missing = sorted(name for name in reads if name not in committed)
    if missing:
        tracked = set(_git(repo, "--literal-pathspecs", "ls-files", "-z", "--", *missing).split("\0"))
        untracked = [name for name in missing if name not in tracked]
        if untracked:
            raise PublishError(f"the site read results files that git does not track ({_names(untracked)}): commit them "
                               f"(or delete them), rebuild with `{REBUILD}`, then publish")
        raise PublishError(f"the site read results files that are not committed ({_names(missing)}): commit them, "
                           f"rebuild with `{REBUILD}`, then publish")
    changed = sorted(name for name, blobs in reads.items() if blobs != {committed[name]})
    if changed:
        raise PublishError(f"the site read results files that differ from the committed ones ({_names(changed)}): commit "
                           f"them or restore them (`git checkout -- FILE`), rebuild with `{REBUILD}`, then publish")
    return len(reads)


def _git_or_none(repo: Path, *args: str) -> str | None:
    """``git ARGS``'s output, or None if it fails (a ref that does not exist, a detached HEAD)."""
    out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def check_branch(repo: Path, remote: str, branch: str) -> None:
    """Raises PublishError if ``branch`` holds the source rather than a site: ghp-import force-pushes over it."""
    current = _git_or_none(repo, "symbolic-ref", "-q", "--short", "HEAD")
    default = _git_or_none(repo, "symbolic-ref", "-q", "--short", f"refs/remotes/{remote}/HEAD")
    reason = None
    if branch == current:
        reason = "the branch checked out"
    elif branch in SOURCE_BRANCHES:
        reason = "a source branch name"
    elif default is not None and branch == default.removeprefix(f"{remote}/"):
        reason = f"the default branch of {remote}"
    else:
        for ref in (f"refs/heads/{branch}", f"refs/remotes/{remote}/{branch}"):
            if _git_or_none(repo, "rev-parse", "-q", "--verify", f"{ref}^{{commit}}") and _git_or_none(repo, "merge-base", "HEAD", ref):
                reason = f"a branch that shares history with the checked-out commit ({ref.removeprefix('refs/')})"
                break
    if reason is not None:
        raise PublishError(f"--branch {branch} is {reason}, and ghp-import would force-push the site over it: publish to "
                           f"the site's own branch (the default, `--branch gh-pages`)")


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if out.returncode != 0:
        reason = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise PublishError(f"`git {' '.join(args)}` failed in {repo} ({reason}): publish from a clone of the repository")
    return out.stdout


def check_tree(repo: Path) -> str:
    """The commit checked out; raises PublishError if a tracked file has uncommitted changes."""
    dirty = _git(repo, "status", "--porcelain", "--untracked-files=no").splitlines()
    if dirty:
        names = _names([line[3:] for line in dirty])
        raise PublishError(f"the working tree has uncommitted changes ({names}): commit or stash them, "
                           f"rebuild with `{REBUILD}`, then publish")
    return _git(repo, "rev-parse", "HEAD").strip()


def plan(repo: Path = REPO_ROOT, site: Path = SITE, remote: str = "origin", branch: str = "gh-pages") -> Plan:
    """Every check, and the ghp-import command that would publish the site."""
    profiles = check_site(site)
    check_branch(repo, remote, branch)
    results_read = check_reads(repo, site)
    commit = check_tree(repo)
    if importlib.util.find_spec("ghp_import") is None:
        raise PublishError("ghp-import missing: run `make venv` (environment.yml pins it)")
    files = [p for p in site.rglob("*") if p.is_file()]
    message = f"Site built from {commit[:12]} (profile {', '.join(sorted(set(profiles.values())))})"
    command = [sys.executable, "-m", "ghp_import", "-n", "-p", "-f", "-r", remote, "-b", branch, "-m", message, str(site)]
    return Plan(site, len(files), sum(p.stat().st_size for p in files), profiles, commit, command, results_read)


def publish(repo: Path = REPO_ROOT, site: Path = SITE, dry_run: bool = False, remote: str = "origin",
            branch: str = "gh-pages") -> Plan:
    """Check, then push the site to the gh-pages branch with ghp-import (unless dry_run)."""
    p = plan(repo, site, remote, branch)
    if dry_run:
        print(f"dry run, would push to {remote}/{branch}: {p.describe()}")
        return p
    out = subprocess.run(p.command, cwd=repo, capture_output=True, text=True)
    if out.returncode != 0:
        last = (out.stderr.strip() or out.stdout.strip() or "no output").splitlines()[-1]
        raise PublishError(f"ghp-import failed ({last}): check that remote {remote!r} exists and that you may push to it")
    print(f"published to {remote}/{branch}: {p.describe()}")
    return p
