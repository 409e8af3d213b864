"""Issue 28 part 2: a chapter is records. The table of contents, the first page's list of chapters and
the registry's order are derived from the experiments and figures modules, so a new chapter is three new
files (an experiments module, a figures module, a notebook) and nothing else (README, "Adding a chapter")."""

from __future__ import annotations

import importlib
import pkgutil
import shutil
import sys
from pathlib import Path

import pytest
import yaml

import ffrepro.experiments
import ffrepro.figures
from ffrepro import book as book_pages
from ffrepro import registry
from ffrepro.config import ConfigError
from ffrepro.results import REPO_ROOT

BOOK = REPO_ROOT / "book"


def test_every_notebook_is_a_page_in_the_table_of_contents() -> None:
    pages = book_pages.pages()
    assert {p.notebook for p in pages} == {p.stem for p in book_pages.sources(BOOK)}
    toc = yaml.safe_load(book_pages.toc())
    assert toc["root"] == "intro" and [c["file"] for c in toc["chapters"]] == [f"executed/{p.notebook}" for p in pages]
    assert [p.notebook for p in pages[:3]] == ["ff-intro", "paper-numbers", "mnist-ff-supervised"] and pages[-1].notebook == "summary"
    listed = book_pages.chapter_list().splitlines()
    assert len(listed) == len(pages) and all(line.startswith(f"- {{doc}}`/executed/{p.notebook}` ") for line, p in zip(listed, pages))


def test_every_source_is_a_myst_notebook_with_a_parameters_cell() -> None:
    """Each chapter's source (MyST markdown) reads as a valid notebook, the same one every time, whose one cell
    tagged ``parameters`` (papermill's) is code that sets the profile."""
    import nbformat

    for source in book_pages.sources(BOOK):
        nb = book_pages.read_source(source)
        nbformat.validate(nb)
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1 and params[0].cell_type == "code" and "profile = " in params[0].source, source.name
        assert book_pages.ipynb(source) == book_pages.ipynb(source) and "jupytext" not in nb.metadata


def test_the_first_page_includes_the_list_rather_than_typing_it() -> None:
    intro = (BOOK / "intro.md").read_text()
    assert "```{include} executed/chapters.md" in intro
    assert not any(line.startswith("- {doc}`") for line in intro.splitlines())  # no hand-kept list of pages
    assert "book/_toc.yml" in (REPO_ROOT / ".gitignore").read_text().split()  # written by make site, never committed


def _book_copy(tmp_path: Path) -> Path:
    book = tmp_path / "book"
    shutil.copytree(BOOK / "notebooks", book / "notebooks")
    return book


def test_a_notebook_without_a_page_or_a_page_without_a_notebook_is_named(tmp_path: Path) -> None:
    book = _book_copy(tmp_path)
    (book / "notebooks" / "mnist-ff-new.md").write_text("# New\n")
    with pytest.raises(ValueError, match=r"notebooks without a page \['mnist-ff-new'\].*PAGES"):
        book_pages.write(book)
    (book / "notebooks" / "mnist-ff-new.md").unlink()
    (book / "notebooks" / "summary.md").unlink()
    with pytest.raises(ValueError, match=r"pages without a notebook \['summary'\]"):
        book_pages.write(book)


def test_a_new_chapter_is_three_new_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An experiments module and a figures module in the packages' folders, and a notebook: the registry,
    the table of contents and the first page's list take them in, at the places they declare."""
    exps, figs = tmp_path / "experiments", tmp_path / "figures"
    exps.mkdir()
    figs.mkdir()
    (exps / "mnist_new.py").write_text(
        "from ffrepro.experiments.mnist_bp import EXPERIMENTS as _BP\n"
        "import dataclasses\n"
        "PLACE = 35\n"
        "EXPERIMENTS = [dataclasses.replace(_BP[0], id='mnist-new')]\n")
    (figs / "new.py").write_text(
        "from ffrepro.book import Page\n"
        "PAGES = (Page('mnist-ff-new', 'tries something new (section 9).', 35),)\n")
    monkeypatch.setattr(ffrepro.experiments, "__path__", [*ffrepro.experiments.__path__, str(exps)])
    monkeypatch.setattr(ffrepro.figures, "__path__", [*ffrepro.figures.__path__, str(figs)])
    try:
        chapters = registry._chapters()
        names = [m.__name__.rsplit(".", 1)[1] for m in chapters]
        assert names.index("mnist_new") == names.index("mnist_supervised") + 1  # PLACE 35: after 30, before 40
        book = _book_copy(tmp_path)
        (book / "notebooks" / "mnist-ff-new.md").write_text("# New\n")
        toc, listed = (p.read_text() for p in book_pages.write(book))
        files = [c["file"] for c in yaml.safe_load(toc)["chapters"]]
        assert files.index("executed/mnist-ff-new") == files.index("executed/mnist-ff-supervised") + 1
        assert "- {doc}`/executed/mnist-ff-new` tries something new (section 9).\n" in listed
    finally:
        for name in ("ffrepro.experiments.mnist_new", "ffrepro.figures.new"):
            sys.modules.pop(name, None)


def test_the_registry_is_every_experiments_module_in_the_order_of_its_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modules = {m.name for m in pkgutil.iter_modules(ffrepro.experiments.__path__)} - {"base"}
    assert {m.__name__.rsplit(".", 1)[1] for m in registry.CHAPTERS} == modules
    places = [m.PLACE for m in registry.CHAPTERS]
    assert places == sorted(places) and len(set(places)) == len(places)
    assert list(registry.EXPERIMENTS)[0] == "mnist-bp"  # the paper's order of sections: the baseline of 3.1 first
    (tmp_path / "mnist_placeless.py").write_text("EXPERIMENTS = []\n")
    monkeypatch.setattr(ffrepro.experiments, "__path__", [*ffrepro.experiments.__path__, str(tmp_path)])
    try:
        with pytest.raises(ConfigError, match="mnist_placeless.*PLACE"):
            registry._chapters()
    finally:
        sys.modules.pop("ffrepro.experiments.mnist_placeless", None)
    importlib.invalidate_caches()


def test_a_method_is_one_record_that_every_dispatch_reads() -> None:
    """Issue 28 part 2: each method's model config, trainers and FLOPs in ffrepro.methods, and nowhere else."""
    from typing import get_args

    from ffrepro import config, cost, methods, runner, stacked

    assert set(methods.METHODS) == set(get_args(config.Method))
    for module in (runner, stacked, cost):
        assert not hasattr(module, "TRAINERS") and not hasattr(module, "STACKED")
    for exp_id in registry.all_ids():
        cfg = registry.get_experiment(exp_id).config("smoke")
        record = methods.METHODS[cfg.method]
        assert type(cfg.model) is record.model and config.RunConfig.from_dict(cfg.to_dict()) == cfg
        assert cost.train_flops_per_example(cfg) == record.flops(cost.INPUTS[cfg.data.dataset], cfg.model) > 0
    cfg = registry.get_experiment("mnist-bp").config("smoke")
    with pytest.raises(ConfigError, match="method bp needs a BPConfig model, not FFConfig"):
        config.validate(config.RunConfig(method="bp", data=cfg.data, model=config.FFConfig(), optim=cfg.optim))
