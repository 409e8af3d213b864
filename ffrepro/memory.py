"""Training memory against depth: FF's joint step, FF's streaming step and backprop (issue 11).

The blog post the project grew from says FF needs no activations stored for the chain rule, so its
training memory does not grow with depth, and cites a measurement where FF needs more memory than BP
for shallow nets and far less for deep ones. This module measures it for one training update of a
fully connected ReLU net of ``depth`` layers of ``width`` units on ``batch`` MNIST-sized images:

- ``ff-joint``: :func:`ffrepro.trainer.ff_step` as ffcode does it (every layer's loss summed, one
  backward), on ``batch`` positive and ``batch`` negative rows;
- ``ff-streaming``: the same update layer by layer (``FFConfig.streaming``);
- ``bp``: backprop through the whole net on ``batch`` rows (cross-entropy, Adam, as ``mnist-bp``).

Three memories per (method, depth), each beyond what the weights, the inputs and the optimiser's
state (made in the first update, and subtracted) hold: the bytes autograd saves for backward (a saved-tensor hook, the same
on every device), the allocator's peak on a GPU, and the process's peak resident memory on a CPU
(each (method, depth) in its own process, as ``ru_maxrss`` only grows). And seconds per update, the
fastest of a few. The readout and the neutral-label pass of supervised FF are left out: they are the
same for both FF steps and do not grow with depth.

``python -m ffrepro memory --profile cpu`` writes ``results/memory-depth/cpu/seed0.json`` (kept, like
a training result, until ``--fresh``).
"""

from __future__ import annotations

import dataclasses
import json
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ffrepro.config import ConfigError, FFConfig, OptimConfig, RunConfig
from ffrepro.results import REPO_ROOT, provenance, read_json_object, results_root, write_result

STUDY = "memory-depth"
METHODS = ("ff-joint", "ff-streaming", "bp")
N_IN, CLASSES = 784, 10


@dataclasses.dataclass(frozen=True)
class MemorySpec:
    depths: tuple[int, ...]
    width: int
    batch: int  # images per update: FF shows each as positive and as negative data
    repeats: int  # timed updates after one untimed warm-up; the fastest is reported


# The sizes: width 2000, 1,000 images, depth 1 to 32. smoke: seconds, for the tests.
# paper: the same sizes as cpu; on a GPU the allocator's peak is measured as well.
SPECS = {
    "smoke": MemorySpec(depths=(1, 2, 4), width=100, batch=50, repeats=1),
    "cpu": MemorySpec(depths=(1, 2, 4, 8, 16, 32), width=2000, batch=1000, repeats=2),
    "paper": MemorySpec(depths=(1, 2, 4, 8, 16, 32), width=2000, batch=1000, repeats=5),
}


class SavedBytes:
    """Bytes autograd holds for backward, live and at peak (a saved-tensor hook). Each saved tensor is
    kept as a detached alias of the same storage, so that a saved output does not hold its own graph
    in a reference cycle that only the garbage collector would free."""

    def __init__(self) -> None:
        self.live = self.peak = 0

    def hooks(self) -> torch.autograd.graph.saved_tensors_hooks:
        return torch.autograd.graph.saved_tensors_hooks(lambda t: _Held(t, self), lambda held: held.t)


class _Held:
    def __init__(self, t: torch.Tensor, counter: SavedBytes):
        self.t, self.counter, self.bytes = t.detach(), counter, t.numel() * t.element_size()
        counter.live += self.bytes
        counter.peak = max(counter.peak, counter.live)

    def __del__(self) -> None:
        self.counter.live -= self.bytes


def _update(method: str, depth: int, spec: MemorySpec, device: torch.device):  # type: ignore[no-untyped-def]
    """A function making one update of a new net for (method, depth) on fixed inputs, and its optimiser."""
    from ffrepro.bp import mlp
    from ffrepro.ff import FFNet
    from ffrepro.trainer import FF_STATS, ff_optimizer, ff_step

    g = torch.Generator(device=device).manual_seed(0)
    hidden = (spec.width,) * depth
    if method == "bp":
        net = mlp(N_IN, hidden).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = torch.rand(spec.batch, N_IN, generator=g, device=device)
        y = torch.randint(0, CLASSES, (spec.batch,), generator=g, device=device)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            opt.step()

        return step, opt
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    model = FFConfig(hidden=hidden, first_scored_layer=0, streaming=method == "ff-streaming")  # no readout is trained here
    ffnet = FFNet(N_IN, model).to(device)
    optimizer = ff_optimizer(ffnet, RunConfig(method="ff-supervised", model=model, optim=OptimConfig()), with_readout=False)
    inputs = torch.rand(2 * spec.batch, N_IN, generator=g, device=device)  # positive rows, then negative rows
    stats = torch.zeros(len(FF_STATS), depth, device=device)
    return (lambda: ff_step(ffnet, optimizer, inputs, spec.batch, stats, "both", streaming=model.streaming)), optimizer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(method: str, depth: int, spec: MemorySpec, device: torch.device) -> dict[str, Any]:
    """One (method, depth): saved bytes, peak memory beyond the state before the first update (the
    process's on a CPU, the allocator's on a GPU), and the fastest update in seconds."""
    step, optimizer = _update(method, depth, spec, device)
    _sync(device)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        allocated_before = torch.cuda.memory_allocated(device)
    counter = SavedBytes()
    with counter.hooks():
        step()  # the warm-up, also the first update: the optimiser's state is created here
    _sync(device)
    # the optimiser's state is made in the first update: it is not the update's working memory
    state = sum(t.numel() * t.element_size() for st in optimizer.state.values() for t in st.values() if torch.is_tensor(t))
    out: dict[str, Any] = {"method": method, "depth": depth, "saved_bytes": counter.peak, "optimizer_state_bytes": state}
    if device.type == "cuda":
        out["gpu_peak_bytes"] = torch.cuda.max_memory_allocated(device) - allocated_before - state
    else:
        out["process_peak_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before - state
    best = float("inf")
    for _ in range(spec.repeats):
        _sync(device)
        t = time.perf_counter()
        step()
        _sync(device)
        best = min(best, time.perf_counter() - t)
    out["seconds_per_update"] = best
    return out


def _one_in_a_process(method: str, depth: int, profile: str, device: str) -> dict[str, Any]:
    """:func:`measure` in a fresh Python process (a process's peak memory only grows)."""
    cmd = [sys.executable, "-m", "ffrepro.memory", method, str(depth), profile, device]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def result_file(profile: str, root: Path | None = None) -> Path:
    return (root or results_root()) / STUDY / profile / "seed0.json"


def load_study(profile: str, root: Path | None = None) -> dict[str, Any]:
    """The committed study of ``profile``; a missing one is an error naming the command to run."""
    path = result_file(profile, root)
    if not path.exists():
        raise FileNotFoundError(f"no memory study for profile {profile!r} at {path}. Produce it with `python -m ffrepro memory --profile {profile}` (or `make book PROFILE={profile}`).")
    return read_json_object(path, "memory study", f"python -m ffrepro memory --profile {profile} --fresh")


def run_study(profile: str, device: torch.device | str = "cpu", progress: bool = True, fresh: bool = False, root: Path | None = None) -> dict[str, Any]:
    """Every (method, depth) of ``profile``, each in its own process; writes and returns the result.
    A study already on disk for the same profile is returned as it is unless ``fresh``."""
    if profile not in SPECS:
        raise ConfigError(f"unknown profile {profile!r}; valid profiles: {', '.join(SPECS)}")
    if not fresh and result_file(profile, root).exists():
        return load_study(profile, root)
    device = torch.device(device)
    spec = SPECS[profile]
    start = time.perf_counter()
    rows = []
    for depth in spec.depths:
        for method in METHODS:
            rows.append(_one_in_a_process(method, depth, profile, str(device)))
            if progress:
                r = rows[-1]
                peak = r.get("gpu_peak_bytes", r.get("process_peak_bytes", 0))
                print(f"[memory] {method:13} depth {depth:2d}: saved {r['saved_bytes'] / 2**20:8.1f} MiB, peak {peak / 2**20:8.1f} MiB, "
                      f"{r['seconds_per_update']:.3f} s per update", flush=True)
    result = {
        "study": STUDY,
        "profile": profile,
        "spec": dataclasses.asdict(spec),
        "rows": rows,
        "wall_time_s": time.perf_counter() - start,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "provenance": provenance(device, {}),
    }
    write_result(result_file(profile, root), result)
    return result


if __name__ == "__main__":  # one measurement, for run_study's fresh processes
    method_arg, depth_arg, profile_arg, device_arg = sys.argv[1:5]
    print(json.dumps(measure(method_arg, int(depth_arg), SPECS[profile_arg], torch.device(device_arg))))
