"""Training memory against depth: FF's joint, streaming and layer-by-layer steps, and backprop (issues 11, 31).

The blog post the project grew from says FF needs no activations stored for the chain rule, so its
training memory does not grow with depth, and cites a measurement where FF needs more memory than BP
for shallow nets and far less for deep ones. This module measures it for one training update of a
fully connected ReLU net of ``depth`` layers of ``width`` units on ``batch`` MNIST-sized images, at each of
the spec's batch sizes (the issue's 1,000 and the experiments' 100):

- ``ff-joint``: :func:`ff_step` as ffcode does it (every layer's loss summed, one
  backward, one optimiser step), on ``batch`` positive and ``batch`` negative rows;
- ``ff-streaming``: the same update layer by layer, each layer's backward before the next layer runs,
  one optimiser step after all of them (so every layer's gradient is alive at the end);
- ``ff-layerwise``: layer by layer, each layer updating its weights and freeing its gradient before the
  next layer runs, as FF allows (every layer's input is detached): the same weights again;
- ``bp``: backprop through the whole net on ``batch`` rows (cross-entropy, Adam, as ``mnist-bp``).

Measured on the second update of a fresh net (the first makes the optimiser's state), each (method,
depth) in its own process: the activations autograd saves for backward (a saved-tensor hook, once per
storage, weights excluded: the same on every device); the update's peak memory beyond what the
process held just before it, gradients included (on a CPU the resident memory sampled every
millisecond, on a GPU the allocator's peak); and the fastest of a few updates in seconds. The readout and the neutral-label pass of supervised FF are left out: they are the
same for both FF steps and do not grow with depth.

``python -m ffrepro memory --profile cpu`` writes ``results/memory-depth/cpu/seed0.json`` (kept, like
a training result, until ``--fresh``).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import resource
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F

from ffrepro.config import ConfigError, FFConfig, OptimConfig, RunConfig
from ffrepro.data import MNIST_PIXELS, NUM_CLASSES
from ffrepro.ff import FF_STATS, FFLayer, FFNet, ff_loss, ff_loss_grad, ff_stats_row, length_normalize, peer_push
from ffrepro.results import REPO_ROOT, provenance, read_json_object, results_root, write_result

STUDY = "memory-depth"
METHODS = ("ff-joint", "ff-streaming", "ff-layerwise", "bp")
Stepping = Literal["joint", "streaming", "layerwise"]  # how ff_step goes through the layers (the FF methods' suffixes)
N_IN, CLASSES = MNIST_PIXELS, NUM_CLASSES  # MNIST-sized rows and labels, random values


@dataclasses.dataclass(frozen=True)
class MemorySpec:
    depths: tuple[int, ...]
    width: int
    batches: tuple[int, ...]  # images per update, each measured: FF shows each as positive and as negative data
    repeats: int  # timed updates after one untimed warm-up; the fastest is reported


# Issue 11's sizes: width 2000, 1,000 images, depth 1 to 32; and the 100 images of a minibatch the
# experiments train with (issue 31). smoke: seconds, for the tests. paper: the same sizes as cpu; on a
# GPU the allocator's peak is measured as well.
SPECS = {
    "smoke": MemorySpec(depths=(1, 2, 4), width=100, batches=(50,), repeats=1),
    "cpu": MemorySpec(depths=(1, 2, 4, 8, 16, 32), width=2000, batches=(1000, 100), repeats=2),
    "paper": MemorySpec(depths=(1, 2, 4, 8, 16, 32), width=2000, batches=(1000, 100), repeats=5),
}


class SavedBytes:
    """Bytes of activations autograd holds for backward, live and at peak (a saved-tensor hook).

    Counted once per storage (a tensor saved by two operations, or a view of one saved before, costs
    nothing more), and never for ``exclude``'s storages (the weights, which a layer saves for its
    backward but which exist anyway). Each saved tensor is kept as a detached alias of the same
    storage, so that a saved output does not hold its own graph in a reference cycle that only the
    garbage collector would free."""

    def __init__(self, exclude: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.live = self.peak = 0
        self.exclude = exclude
        self.refs: dict[int, int] = {}  # storage address -> saved tensors alive on it

    def hooks(self) -> torch.autograd.graph.saved_tensors_hooks:
        return torch.autograd.graph.saved_tensors_hooks(lambda t: _Held(t, self), lambda held: held.t)

    def _add(self, ptr: int, nbytes: int) -> None:
        if ptr in self.exclude:
            return
        self.refs[ptr] = self.refs.get(ptr, 0) + 1
        if self.refs[ptr] == 1:
            self.live += nbytes
            self.peak = max(self.peak, self.live)

    def _remove(self, ptr: int, nbytes: int) -> None:
        if ptr in self.exclude:
            return
        self.refs[ptr] -= 1
        if self.refs[ptr] == 0:
            del self.refs[ptr]
            self.live -= nbytes


class _Held:
    def __init__(self, t: torch.Tensor, counter: SavedBytes):
        storage = t.untyped_storage()
        self.t, self.counter, self.ptr, self.bytes = t.detach(), counter, storage.data_ptr(), storage.nbytes()
        counter._add(self.ptr, self.bytes)

    def __del__(self) -> None:
        self.counter._remove(self.ptr, self.bytes)


def _rss() -> int:
    """This process's resident memory now, in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


class PeakRSS:
    """The highest resident memory of this process while the context is open, sampled every
    millisecond by a thread (torch releases the interpreter lock inside its kernels)."""

    def __enter__(self) -> "PeakRSS":
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.001)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


# --- the step the study measures: ffcode's FF update, by autograd ------------------------------------
# Training computes the FF update with its gradients written out (ffrepro.ff.layer_grads), which autograd
# never sees. What the blog post's claim is about is the activations the chain rule keeps, so the FF
# update measured here is the one autograd runs, as ffcode does it: each layer's loss (ffrepro.ff.ff_loss)
# with its gradient with respect to z written out as one autograd node (_FFLoss), every layer's input
# detached; joint or layer by layer. The same weights either way, and the same as training's update
# (tests/test_memory.py).

class _FFLoss(torch.autograd.Function):
    """:func:`ffrepro.ff.ff_loss` of a layer with ``h = relu(z)``, with the gradient with respect to ``z`` written out
    (:func:`ffrepro.ff.ff_loss_grad`) instead of traced: one node in the backward pass instead of a dozen (ReLU,
    square, row sums, slices, softplus, ...), the same numbers up to float rounding.
    Returns (FF loss, peer term, goodness (N,)); the goodness carries no gradient."""

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, h: torch.Tensor, push: torch.Tensor | None, n_pos: int, n: int, threshold: float,
                sign: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        g, ff, peer, coef = ff_loss(z, h, n_pos, n, threshold, sign, push)
        ctx.save_for_backward(h, coef, push)
        ctx.n_pos, ctx.n = n_pos, n
        ctx.mark_non_differentiable(g)
        return ff, peer, g

    @staticmethod
    def backward(ctx: Any, grad_ff: torch.Tensor, grad_peer: torch.Tensor, _: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        h, coef, push = ctx.saved_tensors
        return ff_loss_grad(h, coef, push, ctx.n_pos, ctx.n, grad_ff=grad_ff, grad_peer=grad_peer), None, None, None, None, None, None



def fused_loss_terms(layer: FFLayer, z: torch.Tensor, h: torch.Tensor, n_pos: int, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A layer's loss terms and goodness (:func:`ffrepro.ff.ff_loss`) as one autograd node (:class:`_FFLoss`):
    rows ``[:n_pos]`` of ``z`` and ``h`` positive, the rest negative, averaged over ``n``; the running means
    updated from the positive rows. -> (FF loss, peer term, goodness (N,))"""
    push = None
    if layer.peer_normalization and n_pos:
        with torch.no_grad():
            push = peer_push(layer.mean_activity, h[:n_pos], layer.peer_normalization, layer.peer_momentum)
    return _FFLoss.apply(z, h.detach(), push, n_pos, n, layer.threshold, layer.sign)


def ff_layer_loss(layer: FFLayer, z: torch.Tensor, h: torch.Tensor, n: int, stats: torch.Tensor, i: int, phase: str = "both") -> torch.Tensor:
    """Layer ``i``'s FF loss (logistic loss plus peer term, :func:`fused_loss_terms`) on states whose
    first ``n`` rows are positive, the rest negative (phase "both"), or whose ``n`` rows are all positive
    ("positive") or all negative ("negative"). Adds its :func:`ff_stats_row` to column ``i`` of ``stats``
    (len(FF_STATS), layers)."""
    n_pos = {"both": n, "positive": n, "negative": 0}[phase]
    ff, peer, g = fused_loss_terms(layer, z, h, n_pos, n)
    with torch.no_grad():
        stats[:, i] += ff_stats_row(ff.detach(), peer.detach(), g, n_pos, n)
    return ff + peer


def ff_layer_losses(net: FFNet, states: list[tuple[torch.Tensor, torch.Tensor]], n: int, stats: torch.Tensor, phase: str = "both") -> torch.Tensor:
    """Sum of every layer's :func:`ff_layer_loss` over a whole forward pass's states."""
    total = torch.zeros((), device=stats.device)
    for i, (layer, (z, h)) in enumerate(zip(net.layers, states)):
        total = total + ff_layer_loss(layer, z, h, n, stats, i, phase)
    return total


def ff_step(net: FFNet, optimizer: torch.optim.Optimizer, inputs: torch.Tensor, n: int, stats: torch.Tensor, phase: str = "both",
            stepping: Stepping = "joint") -> None:
    """One FF update of every layer, by autograd.

    Joint (ffcode's): one forward pass through all layers, one backward over the summed layer losses,
    so every layer's saved activations stay alive until the backward, and one optimiser step. Streaming:
    each layer runs forward, back-propagates its own loss at once and hands on only its detached output,
    so at most one layer's saved activations are alive; one optimiser step after all layers, so every
    layer's gradient is. Layerwise: streaming, with each layer's step taken and its gradient freed before
    the next layer runs (the optimiser steps only parameters with a gradient). A layer's input is detached
    and its output handed on before its step every way, so all three give the same weights.
    """
    optimizer.zero_grad(set_to_none=True)
    if stepping == "joint":
        ff_layer_losses(net, net.forward(inputs), n, stats, phase).backward()
    else:
        a = inputs
        for i, layer in enumerate(net.layers):
            z, h = layer(length_normalize(a).detach(), False)
            ff_layer_loss(layer, z, h, n, stats, i, phase).backward()
            a = net.passed_on(i, h.detach())
            if stepping == "layerwise":
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
    if stepping != "layerwise":
        optimizer.step()


def _update(method: str, depth: int, batch: int, spec: MemorySpec, device: torch.device):  # type: ignore[no-untyped-def]
    """A function making one update of a new net for (method, depth) on ``batch`` fixed inputs, its optimiser
    and its parameters."""
    from ffrepro.bp import mlp
    from ffrepro.trainer import ff_optimizer

    g = torch.Generator(device=device).manual_seed(0)
    hidden = (spec.width,) * depth
    if method == "bp":
        net = mlp(N_IN, hidden).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = torch.rand(batch, N_IN, generator=g, device=device)
        y = torch.randint(0, CLASSES, (batch,), generator=g, device=device)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            opt.step()

        return step, opt, list(net.parameters())
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    model = FFConfig(hidden=hidden, first_scored_layer=0)  # no readout is trained here
    ffnet = FFNet(N_IN, model).to(device)
    optimizer = ff_optimizer(ffnet, RunConfig(method="ff-supervised", model=model, optim=OptimConfig()), with_readout=False)
    inputs = torch.rand(2 * batch, N_IN, generator=g, device=device)  # positive rows, then negative rows
    stats = torch.zeros(len(FF_STATS), depth, device=device)
    stepping: Stepping = method.removeprefix("ff-")  # type: ignore[assignment]
    return (lambda: ff_step(ffnet, optimizer, inputs, batch, stats, "both", stepping)), optimizer, list(ffnet.parameters())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(method: str, depth: int, batch: int, spec: MemorySpec, device: torch.device) -> dict[str, Any]:
    """One (method, depth, batch), on the second update (the first makes the optimiser's state): the
    activations saved for backward, the peak memory of the update beyond what was held before it (the
    process's resident memory on a CPU, sampled; the allocator's on a GPU), and the fastest update in
    seconds. The update's gradients count; the weights, inputs and optimiser state do not."""
    step, optimizer, params = _update(method, depth, batch, spec, device)
    step()  # the warm-up: the optimiser's state is made here
    optimizer.zero_grad(set_to_none=True)  # the gradients are part of the update's memory
    gc.collect()
    _sync(device)
    counter = SavedBytes({p.untyped_storage().data_ptr() for p in params})
    out: dict[str, Any] = {"method": method, "depth": depth, "batch": batch}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        allocated_before = torch.cuda.memory_allocated(device)
        with counter.hooks():
            step()
        _sync(device)
        out["gpu_peak_bytes"] = torch.cuda.max_memory_allocated(device) - allocated_before
    else:
        with counter.hooks(), PeakRSS() as rss:
            step()
        out["process_peak_bytes"] = rss.peak - rss.start
    out["saved_bytes"] = counter.peak
    best = float("inf")
    for _ in range(spec.repeats):
        _sync(device)
        t = time.perf_counter()
        step()
        _sync(device)
        best = min(best, time.perf_counter() - t)
    out["seconds_per_update"] = best
    return out


def _one_in_a_process(method: str, depth: int, batch: int, profile: str, device: str) -> dict[str, Any]:
    """:func:`measure` in a fresh Python process (a process's peak memory only grows)."""
    cmd = [sys.executable, "-m", "ffrepro.memory", method, str(depth), str(batch), profile, device]
    # A fixed mmap threshold makes glibc return every large block to the system when it is freed (its
    # default threshold grows after the first such free, and freed memory then stays resident, so a
    # later update could reuse it unseen by the resident-memory samples).
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(64 * 1024)}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, env=env, check=False)
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
    """Every (batch, method, depth) of ``profile``, each in its own process; writes and returns the result.
    A study already on disk for the same profile is returned as it is unless ``fresh``."""
    if profile not in SPECS:
        raise ConfigError(f"unknown profile {profile!r}; valid profiles: {', '.join(SPECS)}")
    if not fresh and result_file(profile, root).exists():
        return load_study(profile, root)
    device = torch.device(device)
    spec = SPECS[profile]
    start = time.perf_counter()
    rows = []
    for batch, depth, method in ((b, d, m) for b in spec.batches for d in spec.depths for m in METHODS):
        rows.append(_one_in_a_process(method, depth, batch, profile, str(device)))
        if progress:
            r = rows[-1]
            peak = r.get("gpu_peak_bytes", r.get("process_peak_bytes", 0))
            print(f"[memory] {method:13} depth {depth:2d}, batch {batch:4d}: saved {r['saved_bytes'] / 2**20:8.1f} MiB, peak {peak / 2**20:8.1f} MiB, "
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
    method_arg, depth_arg, batch_arg, profile_arg, device_arg = sys.argv[1:6]
    print(json.dumps(measure(method_arg, int(depth_arg), int(batch_arg), SPECS[profile_arg], torch.device(device_arg))))
