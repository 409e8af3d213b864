"""Results are data: one JSON file per (experiment, profile, seed), written atomically, with provenance."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

import torch

from ffrepro.compiled import enabled as compiled_enabled

SCHEMA_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parent.parent
RESULT_FILE = re.compile(r"seed(\d+)\.json")
SET_PREFIX = "set-"  # the folder of a run whose config differs from the registry's (ffrepro.runner.set_folder)
REQUIRED_KEYS = ("experiment", "profile", "seed", "complete", "epochs_done", "config", "final", "history", "wall_time_s", "provenance")


class ResultsError(RuntimeError):
    """A results file that cannot be read; the message names the file, the problem and the fix."""

    def __init__(self, path: Path, problem: str, fix: str):
        super().__init__(f"{path} {problem}; {fix}")
        self.path, self.problem = path, problem


def results_root() -> Path:
    return Path(os.environ.get("FFREPRO_RESULTS", REPO_ROOT / "results"))


def checkpoint_root() -> Path:
    return Path(os.environ.get("FFREPRO_CHECKPOINTS", REPO_ROOT / "checkpoints"))


def result_path(exp_id: str, profile: str, seed: int, root: Path | None = None, folder: str | None = None) -> Path:
    """``ROOT/ID/PROFILE/seedS.json``, or ``ROOT/ID/PROFILE/FOLDER/seedS.json`` for a config changed with
    ``--set`` (``folder`` from :func:`ffrepro.runner.set_folder`: the readers of ``ID/PROFILE`` never see it)."""
    return (root or results_root()) / exp_id / profile / (folder or "") / f"seed{seed}.json"


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


def _rerun_hint(path: Path) -> str:
    """The command that recreates a results file at ``ROOT/ID/PROFILE/seedS.json``."""
    m = RESULT_FILE.fullmatch(path.name)
    seed = m.group(1) if m else "0"
    if path.parent.name.startswith(SET_PREFIX):  # ROOT/ID/PROFILE/set-CHANGES-HASH/seedS.json
        return f"python -m ffrepro run {path.parent.parent.parent.name} --profile {path.parent.parent.name} --seed {seed} --set ... (the changes its folder names)"
    return f"python -m ffrepro run {path.parent.parent.name} --profile {path.parent.name} --seed {seed}"


def read_json_object(path: Path, kind: str, fix: str) -> dict[str, Any]:
    """The JSON object in ``path``; :class:`ResultsError` naming ``kind`` and ``fix`` if it is missing,
    unreadable or not an object."""
    try:
        obj = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ResultsError(path, "does not exist", fix) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(path, f"is not a readable {kind} ({type(exc).__name__}: {exc})", fix) from None
    if not isinstance(obj, dict):
        raise ResultsError(path, f"holds a JSON {type(obj).__name__}, not a {kind}", fix)
    return obj


def read_result(path: Path) -> dict[str, Any]:
    """Read one results file; raise :class:`ResultsError` (one line: file, problem, fix) if it is unusable."""
    fix = f"restore it (`git checkout -- {path}` if it is committed) or delete it and rerun `{_rerun_hint(path)}`"
    result = read_json_object(path, "results file", fix)
    if result.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(path, f"has schema version {result.get('schema_version')!r}, this code reads {SCHEMA_VERSION}", fix)
    missing = [k for k in REQUIRED_KEYS if k not in result]
    if missing:
        raise ResultsError(path, f"lacks the field(s) {', '.join(missing)}", fix)
    problem = shape_problem(result)
    if problem:
        raise ResultsError(path, problem, fix)
    return result


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def shape_problem(result: dict[str, Any], fields: tuple[str, ...] = REQUIRED_KEYS) -> str | None:
    """What is wrong with the shape of a results file's ``fields`` that tables and figures index
    (``final[split][mode]`` a number, ``history`` a list of dicts, ...), or None: a file of the right keys
    but wrong contents is refused when read, not half-way through a table."""
    def wrong(field: str, should: str) -> str:
        return f"has a {field!r} that is not {should} (it is {json.dumps(result[field])[:60]})"

    kinds = {"experiment": str, "profile": str, "config": dict, "provenance": dict}
    for field, kind in kinds.items():
        if field in fields and not isinstance(result[field], kind):
            return wrong(field, "a string" if kind is str else "an object")
    for field in ("seed", "epochs_done"):
        if field in fields and not (isinstance(result[field], int) and not isinstance(result[field], bool)):
            return wrong(field, "a whole number")
    if "complete" in fields and not isinstance(result["complete"], bool):
        return wrong("complete", "true or false")
    if "config" in fields and any(not isinstance(result["config"].get(s, {}), dict) for s in ("data", "model", "optim")):
        return wrong("config", "an object of data, model and optim objects")
    if "final" in fields:
        final = result["final"]
        if not isinstance(final, dict) or not final or not all(isinstance(m, dict) and m and all(_number(v) for v in m.values()) for m in final.values()):
            return wrong("final", "an object of splits, each an object of error rates (numbers)")
    if "history" in fields and not (isinstance(result["history"], list) and all(isinstance(h, dict) for h in result["history"])):
        return wrong("history", "a list of per-epoch objects")
    if "wall_time_s" in fields:
        wall = result["wall_time_s"]
        if not (isinstance(wall, dict) and all(_number(wall.get(k)) for k in ("train", "evaluate"))):
            return wrong("wall_time_s", "an object with the seconds of train and evaluate")
    return None


def load_results(exp_id: str, profile: str, root: Path | None = None) -> list[dict[str, Any]]:
    """All seeds' results of one (experiment, profile), sorted by seed (files named ``seedS.json`` only)."""
    folder = (root or results_root()) / exp_id / profile
    found = [(int(m.group(1)), p) for p in folder.glob("seed*.json") if (m := RESULT_FILE.fullmatch(p.name))]
    return [read_result(p) for _, p in sorted(found)]


def move_aside(path: Path, suffix: str = "corrupt") -> Path:
    """Rename an unusable file to ``NAME.SUFFIX-TIMESTAMP`` (kept for inspection, never deleted); return the new path."""
    target = path.with_name(f"{path.name}.{suffix}-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while target.exists():
        target = target.with_name(f"{path.name}.{suffix}-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
        n += 1
    path.replace(target)
    return target


UNKNOWN = "unknown"  # what provenance records where it cannot tell
COMMIT_ENV, DIRTY_ENV = "FFREPRO_GIT_COMMIT", "FFREPRO_GIT_DIRTY"
_DIRTY_WORDS = {"true": True, "1": True, "false": False, "0": False}
CODE_STATUS = ("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results")  # tracked files but results/


def git_state() -> tuple[str, bool | str]:
    """(commit, dirty) of the code that runs, for provenance; :data:`UNKNOWN` for what cannot be told.

    Where git answers for this repository (``REPO_ROOT/.git`` exists and git names REPO_ROOT as the top
    of the work tree, so not another checkout around a copy), git's HEAD and whether tracked files other
    than results/ differ from it (runs write results files as they finish: a campaign's second seed, or
    a reference's second run, is made by the same code as the first). Elsewhere (a copy of the tree on a GPU machine, scripts/paper_on_gpu.sh) the commit that
    travelled with it: ``FFREPRO_GIT_COMMIT`` (hex) and ``FFREPRO_GIT_DIRTY`` (true/false or 1/0), used
    only if both are set and well formed; otherwise both unknown."""
    if (REPO_ROOT / ".git").exists() and (top := _git("rev-parse", "--show-toplevel")) is not None and Path(top).resolve() == REPO_ROOT:
        commit = _git("rev-parse", "HEAD")
        if commit is not None:
            status = _git(*CODE_STATUS)
            return commit, UNKNOWN if status is None else bool(status)
    commit, dirty = os.environ.get(COMMIT_ENV, "").strip(), os.environ.get(DIRTY_ENV, "").strip().lower()
    if re.fullmatch(r"[0-9a-f]{7,64}", commit) and dirty in _DIRTY_WORDS:
        return commit, _DIRTY_WORDS[dirty]
    return UNKNOWN, UNKNOWN


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@cache
def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux, else what :mod:`platform` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


@cache
def cpu_features() -> list[str]:
    """The vector and matrix extensions that change which floating-point kernels run."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set(re.findall(r"\b(avx2|avx512f|avx512_bf16|amx_bf16|amx_tile|fma|asimd|sve)\b", text))
    return sorted(flags)


# oneDNN's instruction-set caps (DNNL_MAX_CPU_ISA) below avx512_core_bf16, e.g. AVX2 to mimic an AVX2-only CPU
NO_BF16_ISAS = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")


def cpu_bf16_units() -> list[str]:
    """This CPU's bf16 product units (AVX-512 bf16, AMX), or none where torch would emulate bf16 products
    (about 1 GFLOP/s on an AVX2-only EPYC); oneDNN capped below its bf16 kernels counts as none."""
    if os.environ.get("DNNL_MAX_CPU_ISA", "").upper() in NO_BF16_ISAS:
        return []
    return [f for f in cpu_features() if f in ("amx_bf16", "avx512_bf16")]


def bf16_native(device: torch.device) -> bool:
    """Whether bf16 products run on bf16 units here: a GPU, or a CPU with :func:`cpu_bf16_units`."""
    return device.type == "cuda" or bool(cpu_bf16_units())


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def provenance(device: torch.device, dataset_hashes: dict[str, str], model_precision: str = "fp32") -> dict[str, Any]:
    import numpy

    commit, dirty = git_state()
    out = {
        "git_commit": commit,
        "git_dirty": dirty,
        "python": sys.version.split()[0],
        "packages": {"torch": torch.__version__, "numpy": numpy.__version__},
        "device": device_name(device),
        "cpu_model": cpu_model(),
        "cpu_features": cpu_features(),
        "threads": torch.get_num_threads(),
        "dataset_md5": dataset_hashes,
        "host": platform.node(),
        "precision": matmul_precision(device, model_precision),
        "compiled": compiled_enabled(),  # FFREPRO_COMPILE=1: element-wise steps compiled (ffrepro.compiled)
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        out["gpu"] = {"name": props.name, "capability": f"{props.major}.{props.minor}", "memory_gib": round(props.total_memory / 2**30, 1), "cuda": torch.version.cuda}
    return out


def matmul_precision(device: torch.device, model_precision: str = "fp32") -> str:
    """What the matrix products run in: "bf16" where the config asks for it (``model.precision``:
    bf16 operands, float32 weights and losses), else what float32 products run in: "fp32", or "tf32"
    where torch lets the GPU's TF32 units do them (``torch.set_float32_matmul_precision("high")``). On a CPU
    without bf16 units the bf16 products are emulated (:func:`ffrepro.ff.bf16_product`), and it says so."""
    if model_precision == "bf16":
        return "bf16" if bf16_native(device) else "bf16 (emulated: operands rounded to bf16, products in fp32)"
    if device.type == "cuda" and (torch.backends.cuda.matmul.allow_tf32 or torch.get_float32_matmul_precision() != "highest"):
        return "tf32"
    if device.type == "cpu" and torch.get_float32_matmul_precision() == "medium":
        return "bf16 (where the CPU has bf16 units)"
    return "fp32"
