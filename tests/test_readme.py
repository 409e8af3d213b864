"""The README's results table is generated from the committed results, never typed."""

from __future__ import annotations

from ffrepro.report import README_END, README_START, markdown_summary
from ffrepro.results import REPO_ROOT


def test_readme_table_is_current() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    block = text.split(README_START, 1)[1].split(README_END, 1)[0].strip()
    assert block == markdown_summary().strip(), "run `python -m ffrepro table --update-readme`"
