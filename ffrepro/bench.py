"""``make bench``: this machine's fp32 and bf16 matmul throughput and the speed of a supervised FF epoch,
by the reference paths, the fast fp32 paths and bf16 products (issue 12), in one run.

FF speed is reported as achieved GFLOP/s and as a share of the matmul throughput, so figures from
different machines can be compared. The FLOP count is analytic: per minibatch of B images, the
neutral pass (B rows), the positive and negative passes (2B rows) and their weight gradients (2B
rows; inputs are detached, so no input gradients) each cost 2 x sum(fan-in x fan-out) per row.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from unittest.mock import patch

import torch

from ffrepro.config import DataConfig, FFConfig, OptimConfig, RunConfig
from ffrepro.cost import train_flops_per_example
from ffrepro.data import load_mnist
from ffrepro.runner import default_device
from ffrepro.supervised import FFSupervisedTrainer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bf16_units(device: torch.device) -> str:
    """Whether this machine multiplies bf16 natively: a GPU's tensor cores, or a CPU's AMX or AVX-512
    bf16 instructions (elsewhere torch emulates bf16 products, slowly)."""
    if device.type == "cuda":
        return "yes (GPU)"
    from ffrepro.results import cpu_features

    units = [f for f in cpu_features() if f in ("amx_bf16", "avx512_bf16")]
    return ", ".join(units) if units else "none (bf16 is emulated: slow)"


def best_seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """The fastest of ``repeats`` timed calls of ``fn``, after one untimed warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return best


def matmul_gflops(device: torch.device, n: int = 2048, repeats: int = 10, dtype: torch.dtype = torch.float32) -> float:
    """GFLOP/s of an n x n by n x n product in ``dtype`` (best of ``repeats``)."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    return 2 * n**3 / best_seconds(lambda: a @ b, device, repeats) / 1e9


FF_PATHS = (  # (name, model.precision, fast paths on, FFREPRO_COMPILE)
    ("fp32 reference", "fp32", False, False),
    ("fp32", "fp32", True, False),
    ("bf16", "bf16", True, False),
    ("fp32 compiled", "fp32", True, True),
    ("bf16 compiled", "bf16", True, True),
)


def ff_epochs(hidden: tuple[int, ...], batches: int, device: torch.device, rounds: int = 3,
              paths: tuple[tuple[str, str, bool, bool], ...] = FF_PATHS) -> dict[str, dict[str, float]]:
    """Time ``batches`` minibatches of supervised FF by each of ``paths`` and extrapolate to a 50k-image
    epoch: the fastest of ``rounds`` rounds, each round timing every path in turn, so a slow spell of a
    shared machine hits every path alike and the ratios stay fair.

    A path without its fast paths is the reference (the code before issue 12: each labelled copy of a
    batch normalised and multiplied out by layer 1, the loss traced by autograd, the optimiser's
    per-tensor loop). The FLOP count is the reference's; the fast paths do less work for the same
    numbers, so their GFLOP/s is "effective". Compiled paths (``FFREPRO_COMPILE=1``) are compiled in
    their warm-up."""
    data = load_mnist(device)
    trainers, flops = {}, {}
    for name, precision, fast, compiled in paths:
        model = FFConfig(hidden=hidden, precision=precision)  # type: ignore[arg-type]
        cfg = RunConfig(method="ff-supervised", data=DataConfig(train_examples=100 * batches, eval_examples=100), model=model, optim=OptimConfig(epochs=1))
        t = FFSupervisedTrainer(cfg, data, torch.Generator(device).manual_seed(0))
        t.net.share_first_layer = t.net.fused_loss = t.optimizer.fused = fast  # type: ignore[attr-defined]
        trainers[name], flops[name] = (t, compiled), train_flops_per_example(cfg) * 50_000
    best = {name: float("inf") for name in trainers}
    with patch.dict(os.environ):  # FFREPRO_COMPILE as it was afterwards
        for r in range(rounds + 1):  # round 0 warms up (and compiles)
            for name, (t, compiled) in trainers.items():
                os.environ["FFREPRO_COMPILE"] = "1" if compiled else "0"
                _sync(device)
                start = time.perf_counter()
                t.train_epoch(1)
                _sync(device)
                if r:
                    best[name] = min(best[name], (time.perf_counter() - start) * 500 / batches)  # validation is cut to 100 images
    return {name: {"seconds_per_epoch": best[name], "tflop_per_epoch": flops[name] / 1e12, "gflops": flops[name] / best[name] / 1e9} for name in trainers}


def recurrent_epoch(hidden: tuple[int, ...], batches: int, device: torch.device) -> dict[str, float]:
    """Time ``batches`` minibatches of recurrent FF (ffrepro.recurrent) and extrapolate to a 50k-image epoch."""
    from ffrepro.config import RecurrentFFConfig
    from ffrepro.recurrent import FFRecurrentTrainer, flops

    model = RecurrentFFConfig(hidden=hidden)
    cfg = RunConfig(method="ff-recurrent", data=DataConfig(train_examples=100 * batches, eval_examples=100), model=model, optim=OptimConfig(epochs=1))
    data = load_mnist(device)
    trainer = FFRecurrentTrainer(cfg, data, torch.Generator(device).manual_seed(0))
    x, y = data.train.x[:100], data.train.y[:100]
    stats = torch.zeros(5, len(hidden), device=device)
    trainer.video_loss(x, y, trainer.negatives(x, y), stats).backward()  # warm up
    _sync(device)
    t = time.perf_counter()
    for idx in trainer.minibatches():
        xb, yb = data.train.x[idx], data.train.y[idx]
        loss = trainer.video_loss(xb, yb, trainer.negatives(xb, yb), stats)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()
    _sync(device)
    seconds = (time.perf_counter() - t) * 500 / batches  # training only, no validation
    total = flops(784, model)["train"] * 50_000
    return {"seconds_per_epoch": seconds, "tflop_per_epoch": total / 1e12, "gflops": total / seconds / 1e9}


def local_layer(batch: int = 100, repeats: int = 5, device: torch.device | None = None) -> dict[str, float]:
    """Throughput of a CIFAR-10 locally connected layer (32 x 32 x 3 -> 32 x 32 x 3, 11 x 11 fields, zero
    padding: issue 9), counted in its necessary FLOPs (every weight once per image), computed both
    ways (:mod:`ffrepro.local`): ``dense`` (the scattered dense matrix, built once per weight value
    and reused, as training does between optimiser steps) and ``patches`` (copied windows and a
    batched matmul); forward alone and forward with the weight gradient; against a dense matmul of
    the same FLOPs (a square layer with as many weights). fp32, best of ``repeats``."""
    from ffrepro.local import LocallyConnected, LocalSpec

    device = device or default_device()
    layer = LocallyConnected((3, 32, 32), LocalSpec(grid=32, window=11, stride=1, channels=3, padding=5)).to(device)
    x = torch.rand(batch, 3 * 32 * 32, device=device)
    flops = 2 * batch * layer.weight.numel()  # every weight once per image (border zeros included)
    k = int(round((layer.weight.numel()) ** 0.5))  # a square dense layer with as many weights
    a, w = torch.rand(batch, k, device=device), torch.rand(k, k, device=device)

    def train_step(forward, uses: int = 1) -> None:  # `uses` forwards, the weight gradient, then a changed weight (as after a step)
        sum(forward(x).sum() for _ in range(uses)).backward()
        with torch.no_grad():
            layer.weight.add_(0.0)

    out = {}
    with torch.no_grad():
        out["dense_gflops"] = 2 * batch * k * k / best_seconds(lambda: a @ w, device, repeats) / 1e9
        for name, forward in (("local", layer.forward), ("patches", layer.forward_patches)):
            out[f"{name}_gflops"] = flops / best_seconds(lambda: forward(x), device, repeats) / 1e9
    for name, forward in (("local", layer.forward), ("patches", layer.forward_patches)):
        out[f"{name}_train_gflops"] = 2 * flops / best_seconds(lambda: train_step(forward), device, repeats) / 1e9
        # a recurrent FF net uses each map about 10 times per weight version (10 iterations)
        out[f"{name}_recurrent_gflops"] = 20 * flops / best_seconds(lambda: train_step(forward, 10), device, max(1, repeats // 2)) / 1e9
    return out


def main(quick: bool = False) -> int:
    device = default_device()
    peak = matmul_gflops(device)
    peak_bf16 = matmul_gflops(device, dtype=torch.bfloat16)
    print(f"device: {device}  torch threads: {torch.get_num_threads()}  bf16 units: {bf16_units(device)}")
    print(f"matmul throughput (2048^3): fp32 {peak:,.0f} GFLOP/s, bf16 {peak_bf16:,.0f} GFLOP/s")
    print("supervised FF, one 50k-image epoch, fastest of 3 interleaved rounds; 'reference': the paths before issue 12")
    print("(labelled copies multiplied out, traced loss, per-tensor optimiser); 'compiled': FFREPRO_COMPILE=1 (one-pass")
    print("optimiser); GFLOP/s counts the reference's work; share: of the fp32 matmul throughput")
    print(f"{'net':12} {'path':16} {'s/epoch':>8} {'speed-up':>8} {'TFLOP/ep':>9} {'GFLOP/s':>8} {'share':>6}")
    for hidden in ((1000, 1000, 1000), (2000, 2000, 2000, 2000)):
        name = f"{len(hidden)}x{hidden[0]}"
        results = ff_epochs(hidden, batches=10 if quick else 30, device=device, rounds=1 if quick else 3)
        base = results["fp32 reference"]["seconds_per_epoch"]
        for path, r in results.items():
            print(f"{name:12} {path:16} {r['seconds_per_epoch']:8.1f} {base / r['seconds_per_epoch']:7.2f}x {r['tflop_per_epoch']:9.2f} {r['gflops']:8.0f} {r['gflops'] / peak:6.0%}")
    for hidden in ((500, 500, 500), (2000, 2000, 2000)):  # recurrent FF: the cpu and paper widths
        r = recurrent_epoch(hidden, batches=3 if quick else 10, device=device)
        name = f"rec {len(hidden)}x{hidden[0]}"
        print(f"{name:12} {r['seconds_per_epoch']:8.1f} {r['tflop_per_epoch']:9.2f} {r['gflops']:8.0f} {r['gflops'] / peak:6.0%} {'':>9}")
    r = local_layer(device=device)
    print(f"locally connected 32x32x3, 11x11 fields, batch 100 (CIFAR-10), in necessary GFLOP/s; a dense matmul with as many weights: {r['dense_gflops']:,.0f}")
    for name, label in (("local", "as dense matrix (used)"), ("patches", "copied patches + bmm")):
        print(f"  {label:24} forward {r[f'{name}_gflops']:6,.0f} ({r[f'{name}_gflops'] / r['dense_gflops']:4.0%} of dense, {r[f'{name}_gflops'] / peak:.0%} of 2048^3)"
              f"   forward + weight gradient {r[f'{name}_train_gflops']:6,.0f}   10 forwards + weight gradient (recurrent) {r[f'{name}_recurrent_gflops']:6,.0f}")
    return 0
