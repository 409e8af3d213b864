"""Results are data: one JSON file per (experiment, profile, seed), written atomically, with provenance."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

SCHEMA_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parent.parent


def results_root() -> Path:
    return Path(os.environ.get("FFREPRO_RESULTS", REPO_ROOT / "results"))


def checkpoint_root() -> Path:
    return Path(os.environ.get("FFREPRO_CHECKPOINTS", REPO_ROOT / "checkpoints"))


def result_path(exp_id: str, profile: str, seed: int, root: Path | None = None) -> Path:
    return (root or results_root()) / exp_id / profile / f"seed{seed}.json"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_result(path: Path, result: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(result, indent=1) + "\n").encode())


def read_result(path: Path) -> dict[str, Any]:
    result = json.loads(path.read_text())
    if result.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema version {result.get('schema_version')}, this code reads {SCHEMA_VERSION}")
    return result


def load_results(exp_id: str, profile: str, root: Path | None = None) -> list[dict[str, Any]]:
    """All seeds' results of one (experiment, profile), sorted by seed."""
    folder = (root or results_root()) / exp_id / profile
    return [read_result(p) for p in sorted(folder.glob("seed*.json"), key=lambda p: int(p.stem[4:]))]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def provenance(device: torch.device, dataset_hashes: dict[str, str]) -> dict[str, Any]:
    import numpy

    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "python": sys.version.split()[0],
        "packages": {"torch": torch.__version__, "numpy": numpy.__version__},
        "device": device_name(device),
        "dataset_md5": dataset_hashes,
        "host": platform.node(),
    }
