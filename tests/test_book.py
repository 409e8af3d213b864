"""Every notebook executes with the smoke profile, and the book builds with warnings as errors."""

from __future__ import annotations

from pathlib import Path

from ffrepro.book import sources
from ffrepro.results import REPO_ROOT

BOOK = REPO_ROOT / "book"
NOTEBOOKS = sources(BOOK)


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
