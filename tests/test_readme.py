"""The README's results table and CPU-hours table are generated from the committed results, never typed."""

from __future__ import annotations

from ffrepro import bench
from ffrepro.hours import hours_markdown
from ffrepro.report import HOURS_END, HOURS_START, README_END, README_START, markdown_summary, readme_block
from ffrepro.results import REPO_ROOT


def test_readme_table_is_current() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    assert readme_block(text, README_START, README_END) == markdown_summary().strip(), "run `python -m ffrepro table --update-readme`"


def test_readme_hours_table_is_current() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    assert readme_block(text, HOURS_START, HOURS_END) == hours_markdown(bench.load("cpu")).strip(), "run `python -m ffrepro table --update-readme`"
