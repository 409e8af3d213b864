"""Every notebook executes with the smoke profile, and the book builds with warnings as errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ffrepro.results import REPO_ROOT

BOOK = REPO_ROOT / "book"
NOTEBOOKS = sorted((BOOK / "notebooks").glob("*.ipynb"))
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def built_book(smoke_results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of book/ with every notebook executed by papermill (profile smoke), then built."""
    if not (BOOK / "_extra" / "mathjax" / "tex-mml-chtml.js").exists():
        pytest.fail("offline MathJax missing: run `make book/_extra/mathjax/tex-mml-chtml.js` (make test does)")
    book = tmp_path_factory.mktemp("site") / "book"
    shutil.copytree(BOOK, book, ignore=shutil.ignore_patterns("_build", "executed"))
    env = {**os.environ, "FFREPRO_RESULTS": str(smoke_results), "PYTHONPATH": str(REPO_ROOT)}
    (book / "executed").mkdir()
    for nb in NOTEBOOKS:
        subprocess.run(
            [str(BIN / "python"), "-m", "papermill", str(nb), str(book / "executed" / nb.name), "-k", "python3",
             "--cwd", str(book / "notebooks"), "-p", "profile", "smoke", "--log-level", "WARNING"],
            env=env, check=True, timeout=600,
        )
    out = subprocess.run(
        [str(BIN / "jupyter-book"), "build", "-W", "-n", "--keep-going", str(book)],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    return book / "_build" / "html"


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 2


def test_book_builds_with_every_page(built_book: Path) -> None:
    pages = {p.stem for p in (built_book / "executed").glob("*.html")}
    assert pages >= {nb.stem for nb in NOTEBOOKS}
    assert (built_book / "index.html").exists()


def test_pages_show_figures_and_numbers(built_book: Path) -> None:
    html = (built_book / "executed" / "mnist-ff-supervised.html").read_text()
    assert html.count("<img") >= 3  # curves, goodness histograms, label embedding
    assert "smoke" in html  # the profile that produced the numbers is named
