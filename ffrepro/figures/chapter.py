"""What every chapter opens with (issue 13): a "reproduce this" box with the exact commands for the
chapter's results at each profile and what each cost when it ran (from the results' recorded wall
times), and links to download the results files and the chapter's tables.

The downloads are written when the notebook runs, into ``book/_extra/downloads/`` (the site's root
gets a copy of ``_extra`` at build time, see ``book/_config.yml``), one zip of the results files and
one CSV of the paper-versus-reproduced table per chapter; the box links them relative to the page.
"""

from __future__ import annotations

import html
import io
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ffrepro.config import PROFILES
from ffrepro.registry import all_ids, get_experiment, variant_ids
from ffrepro.results import load_results, results_root

DOWNLOADS = Path("..") / "_extra" / "downloads"  # from book/notebooks, where papermill runs the notebooks
SITE_DOWNLOADS = "../downloads"  # the same folder as seen from a page (book/_build/html/executed/X.html)
PROFILE_SEEDS = {"smoke": "0", "cpu": "0", "paper": "0 1 2"}  # the seeds each profile's book is made with


def chapter_ids(entries: Sequence[str] | None) -> list[str]:
    """``entries`` each followed by its variants; None: every entry of the registry and its variants."""
    if entries is None:
        return all_ids()
    return list(dict.fromkeys(v for e in entries for v in ([e, *variant_ids(e)] if "/" not in e else [e])))


def chapter_runs(entries: Sequence[str] | None, profile: str) -> list[dict[str, Any]]:
    """Every results file of ``entries`` (and their variants; None: of every entry) at ``profile``."""
    return [r for exp_id in chapter_ids(entries) for r in load_results(exp_id, profile)]


def _cost_text(runs: Sequence[dict[str, Any]]) -> str:
    """What the recorded runs took: total wall time, how many runs, on which devices; unfinished runs counted."""
    if not runs:
        return "no results yet"
    seconds = sum(_wall_seconds(r) for r in runs)
    devices = sorted({r["provenance"]["device"] for r in runs})
    unfinished = sum(1 for r in runs if not r.get("complete", True))
    total = f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
    if seconds >= 3600:
        total = f"{seconds / 3600:.1f} h"
    text = f"{total} for {len(runs)} run{'s' if len(runs) != 1 else ''} on {', '.join(devices)}"
    return text + (f" ({unfinished} unfinished)" if unfinished else "")


def _wall_seconds(result: dict[str, Any]) -> float:
    wall = result["wall_time_s"]
    return float(wall) if not isinstance(wall, dict) else float(wall["train"] + wall["evaluate"])


def commands(entries: Sequence[str] | None, profile: str, memory: bool = False) -> list[str]:
    """The shell commands that make a chapter's results at ``profile`` (entries None: every entry and
    variant, and the memory study), then rebuild the pages."""
    seeds = PROFILE_SEEDS[profile]
    out = []
    if entries is None:
        out.append(f"python -m ffrepro run all --profile {profile} --seed {seeds}")
        memory = True
    elif entries:
        studies = any(get_experiment(e).variants for e in entries)
        out.append(f"python -m ffrepro run {' '.join(entries)} --profile {profile} --seed {seeds}" + (" --with-variants" if studies else ""))
    if memory:
        out.append(f"python -m ffrepro memory --profile {profile}")
    out.append(f"make notebooks site PROFILE={profile}" + (f' SEEDS="{seeds}"' if seeds != "0" else ""))
    return out


def _memory_runs(profile: str) -> list[dict[str, Any]]:
    path = results_root() / "memory-depth" / profile / "seed0.json"
    return [json.loads(path.read_text())] if path.exists() else []


def write_downloads(chapter: str, entries: Sequence[str] | None, profile: str, tables: dict[str, pd.DataFrame], memory: bool = False,
                    folder: Path = DOWNLOADS) -> dict[str, str]:
    """Write ``CHAPTER-results.zip`` (every results file the chapter reads at ``profile``, under their
    results/ paths, and each of ``tables`` as CSV) and ``CHAPTER.csv`` (the first table). -> {kind: file name}"""
    folder.mkdir(parents=True, exist_ok=True)
    root = results_root()
    paths = []
    for exp_id in chapter_ids(entries):
        paths += sorted((root / exp_id / profile).glob("seed*.json"))
    if memory or entries is None:
        paths += [p for p in [root / "memory-depth" / profile / "seed0.json"] if p.exists()]
    names = {"zip": f"{chapter}-results.zip", "csv": f"{chapter}.csv"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for p in paths:
            z.write(p, str(Path("results") / p.relative_to(root)))
        for name, table in tables.items():
            z.writestr(f"tables/{name}.csv", table.to_csv())
    (folder / names["zip"]).write_bytes(buffer.getvalue())
    first = next(iter(tables.values()), pd.DataFrame())
    (folder / names["csv"]).write_text(first.to_csv())
    return names


def default_tables(entries: Sequence[str] | None, profile: str) -> dict[str, pd.DataFrame]:
    """The tables every chapter with registry entries shows: paper versus reproduced, and the runs
    (seeds, devices, precision, cost), every profile with results, ``profile`` first."""
    from ffrepro.figures import common

    if entries is not None and not entries:
        return {}
    ids = None if entries is None else [e for e in entries if "/" not in e]
    order = common.profile_order(profile)
    return {"paper-vs-reproduced": common.overview_table(ids, order), "runs": common.runs_table(ids, order)}


def reproduce_box(chapter: str, entries: Sequence[str] | None, profile: str, tables: dict[str, pd.DataFrame] | None = None,
                  memory: bool = False, folder: Path = DOWNLOADS) -> "Any":
    """The chapter's opening box (an HTML output): per profile, the commands and what the recorded runs
    cost; then links to this chapter's downloads (written now, see :func:`write_downloads`). ``entries``:
    the registry entries the chapter reads (their variants are included), [] for a page that reads
    none, None for all of them; ``memory``: the chapter reads the memory study; ``tables``: what the
    downloads hold as CSV (default :func:`default_tables`)."""
    from IPython.display import HTML

    reads = entries is None or bool(entries) or memory
    names = write_downloads(chapter, entries, profile, default_tables(entries, profile) if tables is None else tables, memory, folder) if reads else {}
    rows = []
    for p in PROFILES:
        runs = chapter_runs(entries, p) + (_memory_runs(p) if memory or entries is None else [])
        cost = _cost_text(runs) if reads else "trains nothing: the page is computed when it is built"
        cmd = "<br>".join(f"<code>{html.escape(c)}</code>" for c in commands(entries, p, memory))
        mark = " (this page)" if p == profile else ""
        rows.append(f"<tr><td><b>{p}</b>{mark}</td><td>{cmd}</td><td>{html.escape(cost)}</td></tr>")
    if names:
        links = (f'Download ({html.escape(profile)} profile): <a href="{SITE_DOWNLOADS}/{names["zip"]}" download>results files and tables '
                 f'(zip of JSON and CSV)</a>, <a href="{SITE_DOWNLOADS}/{names["csv"]}" download>the first table (CSV)</a>.')
    else:
        links = "This page reads no results files."
    return HTML(
        '<div class="admonition tip ffrepro-reproduce"><p class="admonition-title">Reproduce this chapter</p>'
        "<p>From the repository's root, after <code>make venv data</code>. A command reuses results already on disk "
        "for the same configuration (add <code>--fresh</code> to retrain); the cost is what the committed runs took.</p>"
        '<table class="table" style="width:100%;table-layout:fixed"><colgroup><col style="width:14%"><col style="width:58%">'
        '<col style="width:28%"></colgroup><thead><tr><th>profile</th><th>commands</th><th>recorded cost</th></tr></thead><tbody>'
        + "".join(rows)
        + f"</tbody></table><p>{links}</p></div>"
    )
