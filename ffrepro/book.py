"""The book's pages as records: each chapter's figures module declares the pages it draws (``PAGES``),
and the table of contents and the first page's list of chapters are written from them.

A page is a notebook (``book/notebooks/NAME.md``, a MyST markdown notebook that ``make notebooks`` converts
with :func:`ipynb` and executes with papermill into ``book/executed/NAME.ipynb``), its line on the
first page and its place in the table of contents. The book's own front pages, which draw no results,
are declared here. ``python -m ffrepro.book book`` (run by ``make site``) writes ``book/_toc.yml`` and
``book/executed/chapters.md`` (which ``intro.md`` includes); neither is kept in git, so adding a chapter
touches its experiments module, its figures module and its notebook only (README, "Adding a chapter").
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = "intro"  # book/intro.md: the first page, holding the overview and the list of chapters


def sources(book: Path) -> list[Path]:
    """The chapters' sources: ``book/notebooks/*.md``, MyST markdown notebooks (jupytext's ``md:myst``)."""
    return sorted((book / "notebooks").glob("*.md"))


def read_source(path: Path):
    """The notebook (an ``nbformat`` node, each cell's ``source`` one string) that the MyST markdown notebook
    ``path`` holds, as papermill executes it: its cells' ids are their places (``cell-00``, ``cell-01``...),
    not the random ids a text notebook would get on every conversion, and it keeps no ``jupytext`` metadata
    (the header's record of the text format), so the executed notebook's metadata is the kernel's and
    papermill's alone."""
    import jupytext

    nb = jupytext.read(path, fmt="md:myst")
    nb.metadata.pop("jupytext", None)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"
    return nb


def ipynb(path: Path) -> str:
    """:func:`read_source` as ``.ipynb`` JSON: ``python -m ffrepro.book --ipynb NAME.md | papermill - ...``."""
    import nbformat

    return nbformat.writes(read_source(path))


@dataclass(frozen=True)
class Page:
    """One page of the book: ``book/notebooks/{notebook}.md``, listed on the first page as
    "{link} {line}", at ``place`` in the table of contents (ascending; the numbers need not be
    consecutive, so a new page slots in between two)."""

    notebook: str
    line: str
    place: int


FRONT = (
    Page("ff-intro", "explains the Forward-Forward algorithm for a reader who has not read the paper, which choices we took "
         "from Hinton's own code where the paper is silent, and the settings of every experiment in every profile.", 10),
    Page("paper-numbers", "lists every number of the paper that the book compares with, each marked confirmed or recalled, "
         "with Table 1 and the settings of Hinton's code.", 20),
)


def pages() -> list[Page]:
    """Every page of the book, in the order of its table of contents: :data:`FRONT` and the ``PAGES`` of
    every module of :mod:`ffrepro.figures`."""
    import ffrepro.figures

    found = list(FRONT)
    for info in pkgutil.iter_modules(ffrepro.figures.__path__):
        found += getattr(importlib.import_module(f"ffrepro.figures.{info.name}"), "PAGES", ())
    for attr in ("notebook", "place"):
        values = [getattr(p, attr) for p in found]
        if len(set(values)) != len(values):
            raise ValueError(f"two pages of the book share a {attr}: {sorted(v for v in values if values.count(v) > 1)}")
    return sorted(found, key=lambda p: p.place)


def toc() -> str:
    """``book/_toc.yml``: the first page, then every page in order."""
    return "\n".join(["# Written by `python -m ffrepro.book` from the pages' records (ffrepro/book.py): do not edit.",
                      "format: jb-book", f"root: {ROOT}", "chapters:", *(f"  - file: executed/{p.notebook}" for p in pages())]) + "\n"


def chapter_list() -> str:
    """The first page's list of pages, one line each (MyST, included by ``intro.md``)."""
    return "".join(f"- {{doc}}`/executed/{p.notebook}` {p.line}\n" for p in pages())


def write(book: Path) -> list[Path]:
    """Write ``_toc.yml`` and ``executed/chapters.md`` into the book's folder ``book``; raise if a page has no
    notebook or a notebook no page."""
    notebooks = {p.stem for p in sources(book)}
    declared = {p.notebook for p in pages()}
    if notebooks != declared:
        raise ValueError(f"book pages and notebooks differ: notebooks without a page {sorted(notebooks - declared)}, "
                         f"pages without a notebook {sorted(declared - notebooks)}; declare a Page in the chapter's figures module (PAGES)")
    (book / "executed").mkdir(parents=True, exist_ok=True)
    out = [book / "_toc.yml", book / "executed" / "chapters.md"]
    out[0].write_text(toc())
    out[1].write_text(chapter_list())
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["--ipynb"]:  # one chapter's source as a notebook, on stdout (make notebooks)
        sys.stdout.write(ipynb(Path(sys.argv[2])))
    else:
        for path in write(Path(sys.argv[1] if len(sys.argv) > 1 else "book")):
            print(f"wrote {path}")
