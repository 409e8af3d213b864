"""``make bench``: this machine's fp32 and bf16 matmul throughput and the speed of a supervised FF epoch,
in float32 and with bf16 products, eager and compiled, and of three seeds one by one or stacked
into one model (issue 12), in one run.

FF speed is reported as achieved GFLOP/s and as a share of the matmul throughput, so figures from
different machines can be compared. The FLOP count is analytic: per minibatch of B images, the
neutral pass (B rows), the positive and negative passes (2B rows) and their weight gradients (2B
rows; inputs are detached, so no input gradients) each cost 2 x sum(fan-in x fan-out) per row.

A full run is kept as a results file with the machine's provenance, ``results/bench/cpu.json`` (or
``cuda.json``): the supervised chapter shows it beside the bf16 validation. Every ratio it reports is
between timings of that one run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any
from unittest.mock import patch

import torch

from ffrepro.config import DataConfig, FFConfig, OptimConfig, RunConfig
from ffrepro.cost import train_flops_per_example
from ffrepro.data import CHANNELS, CIFAR10_SIDE, INPUTS, MNIST_PIXELS, TRAIN_SIZE, load_mnist
from ffrepro.local import LocalSpec
from ffrepro.results import ResultsError, bf16_native, provenance, read_json_object, results_root, write_result
from ffrepro.runner import default_device
from ffrepro.supervised import FFSupervisedTrainer

STUDY = "bench"  # results/bench/{cpu,cuda}.json: the latest full run on such a machine
EPOCH_BATCHES = TRAIN_SIZE // DataConfig().batch_size  # minibatches of 100 in an epoch of MNIST's training split


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bf16_units(device: torch.device) -> str:
    """Whether this machine multiplies bf16 natively: a GPU's tensor cores, or a CPU's AMX or AVX-512
    bf16 instructions (elsewhere torch emulates bf16 products, slowly)."""
    if device.type == "cuda":
        return "yes (GPU)"
    from ffrepro.results import cpu_bf16_units

    units = cpu_bf16_units()
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

    Every path is the one update (:class:`ffrepro.supervised.StackedFFSupervised`, a stack of one); the
    reference paths of the code before issue 12 (each labelled copy multiplied out by layer 1, the
    traced loss, the optimiser's per-tensor loop) are references in the tests now, not paths of the
    package (issue 28; bench results from before 2026-12-07 time them as "fp32 reference"). The FLOP
    count is the plain way's (each labelled copy multiplied out); the update does less work for the same
    numbers, so their GFLOP/s is "effective". Compiled paths (``FFREPRO_COMPILE=1``) are compiled in
    their warm-up."""
    data = load_mnist(device)
    trainers, flops = {}, {}
    for name, precision, fast, compiled in paths:
        model = FFConfig(hidden=hidden, precision=precision)  # type: ignore[arg-type]
        cfg = RunConfig(method="ff-supervised", data=DataConfig(train_examples=100 * batches, eval_examples=100), model=model, optim=OptimConfig(epochs=1))
        t = FFSupervisedTrainer(cfg, data, torch.Generator(device).manual_seed(0))
        trainers[name], flops[name] = (t, compiled), train_flops_per_example(cfg) * TRAIN_SIZE
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
                    best[name] = min(best[name], (time.perf_counter() - start) * EPOCH_BATCHES / batches)  # validation is cut to 100 images
    return {name: {"seconds_per_epoch": best[name], "tflop_per_epoch": flops[name] / 1e12, "gflops": flops[name] / best[name] / 1e9} for name in trainers}


def stacked_epochs(hidden: tuple[int, ...], batches: int, device: torch.device, seeds: int = 3, rounds: int = 3, compiled: bool = True) -> dict[str, Any]:
    """Supervised FF, fast fp32 paths, ``seeds`` seeds: one after another as separate models, and together
    as one stacked model (:mod:`ffrepro.stacked`), eager and (``compiled``) with ``FFREPRO_COMPILE=1``;
    interleaved rounds, the fastest of ``rounds``, as :func:`ff_epochs`. -> seconds per seed and
    50k-image epoch each way, and each stacked way's speed-up over the seeds one by one."""
    from ffrepro.supervised import StackedFFSupervised

    data = load_mnist(device)
    cfg = RunConfig(method="ff-supervised", data=DataConfig(train_examples=100 * batches, eval_examples=100), model=FFConfig(hidden=hidden), optim=OptimConfig(epochs=1))

    def seeds_trainers() -> list[FFSupervisedTrainer]:
        out = []
        for seed in range(seeds):
            torch.manual_seed(seed)
            out.append(FFSupervisedTrainer(cfg, data, torch.Generator(device).manual_seed(seed)))
        return out

    alone, stacked = seeds_trainers(), StackedFFSupervised(seeds_trainers())
    ways: dict[str, tuple[Callable[[], object], bool]] = {"one_by_one": (lambda: [t.train_epoch(1) for t in alone], False),
                                                           "stacked": (lambda: stacked.train_epoch(1), False)}
    if compiled:
        stacked_compiled = StackedFFSupervised(seeds_trainers())
        ways["stacked_compiled"] = (lambda: stacked_compiled.train_epoch(1), True)
    best = {way: float("inf") for way in ways}
    with patch.dict(os.environ):
        for r in range(rounds + 1):  # round 0 warms up (and compiles)
            for way, (epoch, compile_it) in ways.items():
                os.environ["FFREPRO_COMPILE"] = "1" if compile_it else "0"
                _sync(device)
                start = time.perf_counter()
                epoch()
                _sync(device)
                if r:
                    best[way] = min(best[way], (time.perf_counter() - start) * EPOCH_BATCHES / batches / seeds)
    out: dict[str, Any] = {"seeds": seeds, **{f"{way}_seconds_per_epoch": v for way, v in best.items()}}
    for way in ways:
        if way != "one_by_one":
            out[f"{way}_speed_up"] = best["one_by_one"] / best[way]
    return out


def recurrent_epoch(hidden: tuple[int, ...], batches: int, device: torch.device, seeds: int = 3, compiled: bool = False,
                    precisions: tuple[str, ...] = ("fp32", "bf16"), rounds: int = 2) -> dict[str, Any]:
    """Time ``batches`` minibatches of recurrent FF's update (:class:`ffrepro.recurrent.StackedFFRecurrent`, one
    seed a stack of one) in each of ``precisions``, the fastest of ``rounds`` interleaved rounds, and
    extrapolate to a 50k-image epoch (fp32's figures unprefixed, the others' as ``bf16_seconds_per_epoch``,
    ``bf16_gflops``, ``bf16_speed_up``); then the same minibatches of ``seeds`` seeds stacked in fp32, eager
    and (``compiled``) with ``FFREPRO_COMPILE=1``, per seed, and each stacked way's speed-up. Training only,
    no validation."""
    from ffrepro.config import RecurrentFFConfig
    from ffrepro.recurrent import FFRecurrentTrainer, StackedFFRecurrent, flops

    def config(precision: str) -> RunConfig:
        model = RecurrentFFConfig(hidden=hidden, precision=precision)  # type: ignore[arg-type]
        return RunConfig(method="ff-recurrent", data=DataConfig(train_examples=100 * batches, eval_examples=100), model=model, optim=OptimConfig(epochs=1))

    data = load_mnist(device)

    def updates(precision: str, n: int) -> Callable[[int], None]:
        """``n`` seeds' update, stacked; called with a step (-1 and 0: the first minibatch)."""
        stack = StackedFFRecurrent([FFRecurrentTrainer(config(precision), data, torch.Generator(device).manual_seed(seed)) for seed in range(n)])
        stack._stack()
        stack.start_epoch()
        groups, plans = stack.trainers[0].optimizer.param_groups, [t.minibatches() for t in stack.trainers]

        def step(i: int) -> None:
            idx = torch.stack([plan[max(i, 0)] for plan in plans])
            stack.update(data.train.x[idx], data.train.y[idx], "both", groups)
        return step

    def seconds(step: Callable[[int], None], n: int) -> float:
        _sync(device)
        t = time.perf_counter()
        for i in range(batches):
            step(i)
        _sync(device)
        return (time.perf_counter() - t) * EPOCH_BATCHES / batches / n  # per seed

    alone = {p: updates(p, 1) for p in precisions}
    for step in alone.values():
        step(-1)  # warm up
    best = {p: float("inf") for p in precisions}
    for _ in range(rounds):
        for p, step in alone.items():
            best[p] = min(best[p], seconds(step, 1))
    fp32 = best["fp32"]
    total = flops(MNIST_PIXELS, config("fp32").model)["train"] * TRAIN_SIZE
    out: dict[str, Any] = {"seconds_per_epoch": fp32, "tflop_per_epoch": total / 1e12, "gflops": total / fp32 / 1e9, "stacked_seeds": seeds}
    for p in precisions[1:]:
        out |= {f"{p}_seconds_per_epoch": best[p], f"{p}_gflops": total / best[p] / 1e9, f"{p}_speed_up": fp32 / best[p]}
    for way, compile_it in (("stacked", False), ("stacked_compiled", True))[: 2 if compiled else 1]:
        with patch.dict(os.environ, {"FFREPRO_COMPILE": "1" if compile_it else "0"}):
            step = updates("fp32", seeds)
            step(-1)  # warms up (and compiles)
            out[f"{way}_seconds_per_epoch"] = seconds(step, seeds)
        out[f"{way}_speed_up"] = fp32 / out[f"{way}_seconds_per_epoch"]
    return out


LOCAL_LAYER = ((CHANNELS["cifar10"], CIFAR10_SIDE, CIFAR10_SIDE), LocalSpec(grid=32, window=11, stride=1, channels=3, padding=5))  # local_layer's map: (C, H, W) in, spec
LOCAL_WAYS = ("matrix", "tiles", "patches")  # local_layer's names of ffrepro.local's dense, tiles and patches ways


def local_layer(batch: int = 100, repeats: int = 5, device: torch.device | None = None) -> dict[str, Any]:
    """Throughput of a CIFAR-10 locally connected layer (32 x 32 x 3 -> 32 x 32 x 3, 11 x 11 fields, zero
    padding: issue 9), counted in its necessary FLOPs (every weight once per image), computed each of
    the three ways of :mod:`ffrepro.local` (issue 29): ``matrix`` (the scattered dense matrix),
    ``tiles`` (8 x 8 locations per dense block product) and ``patches`` (copied windows and a batched
    matmul), the matrices built once per weight value and reused, as training does between optimiser
    steps; forward alone, forward with the weight gradient (a BP step), and ten forwards with the
    weight gradient (a recurrent FF step); against a dense matmul of the same FLOPs (a square layer with
    as many weights). ``used``: the way the layer's forward takes. fp32, best of ``repeats``, the ways
    interleaved within each repeat so that a machine's changing load falls on all of them alike."""
    from ffrepro.local import LocallyConnected

    device = device or default_device()
    layer = LocallyConnected(*LOCAL_LAYER).to(device)
    forwards = {"matrix": layer.forward_dense, "tiles": layer.forward_tiles, "patches": layer.forward_patches}
    x = torch.rand(batch, INPUTS["cifar10"], device=device)
    flops = 2 * batch * layer.weight.numel()  # every weight once per image (border zeros included)
    k = int(round((layer.weight.numel()) ** 0.5))  # a square dense layer with as many weights
    a, w = torch.rand(batch, k, device=device), torch.rand(k, k, device=device)

    def train_step(forward, uses: int = 1) -> None:  # `uses` forwards, the weight gradient, then a changed weight (as after a step)
        sum(forward(x).sum() for _ in range(uses)).backward()
        with torch.no_grad():
            layer.weight.add_(0.0)

    def inference(forward) -> None:
        with torch.no_grad():
            forward(x)

    out: dict[str, Any] = {"used": {"dense": "matrix"}.get(layer.computation, layer.computation)}
    with torch.no_grad():
        out["dense_gflops"] = 2 * batch * k * k / best_seconds(lambda: a @ w, device, repeats) / 1e9
    # a recurrent FF net uses each map about 10 times per weight version (10 iterations)
    for key, work, step, rounds in (("gflops", flops, inference, repeats), ("train_gflops", 2 * flops, train_step, repeats),
                                    ("recurrent_gflops", 20 * flops, lambda f: train_step(f, 10), max(1, repeats // 2))):
        seconds = best_interleaved({way: partial(step, f) for way, f in forwards.items()}, device, rounds)
        out.update({f"{way}_{key}": work / s / 1e9 for way, s in seconds.items()})
    return out


def best_interleaved(fns: dict[str, Callable[[], object]], device: torch.device, repeats: int) -> dict[str, float]:
    """The fastest of ``repeats`` timed calls of each of ``fns``, one call of each per round, after one untimed
    warm-up call of each."""
    best = {}
    for name, fn in fns.items():
        fn()
        best[name] = float("inf")
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync(device)
            t = time.perf_counter()
            fn()
            _sync(device)
            best[name] = min(best[name], time.perf_counter() - t)
    return best


NETS = ((1000, 1000, 1000), (2000, 2000, 2000, 2000))  # supervised FF: the cpu and paper profiles' widths
RECURRENT_NETS = ((500, 500, 500), (2000, 2000, 2000))  # recurrent FF: the cpu and paper widths


def net_name(hidden: Sequence[int]) -> str:
    return f"{len(hidden)}x{hidden[0]}"


def measure(quick: bool = False, nets: Sequence[tuple[int, ...]] = NETS, recurrent_nets: Sequence[tuple[int, ...]] = RECURRENT_NETS,
            paths: tuple[tuple[str, str, bool, bool], ...] = FF_PATHS, local: bool = True, device: torch.device | None = None) -> dict[str, Any]:
    """Everything ``make bench`` measures, in one run: matmul throughput in fp32 and bf16, a supervised
    FF epoch of each of ``nets`` by each of ``paths`` (speed-up against the first path
    of the same run), recurrent FF epochs, and the locally connected layer (``local``). ``quick``:
    fewer minibatches and one timed round (a check that it runs, not a measurement to publish).
    -> a results object (:func:`save`), with the provenance of the machine and code."""
    device = device or default_device()
    start = time.perf_counter()
    native = bf16_native(device)
    skipped = [] if native else [f"{name}: this CPU has no bf16 units and emulates bf16 products at about 1 GFLOP/s, so one epoch would take hours"
                                 for name, precision, *_ in paths if precision == "bf16"]
    paths = paths if native else tuple(p for p in paths if p[1] != "bf16")
    n = 512 if quick else 2048  # the matmul throughput's size: a quick run checks that it runs
    peak = matmul_gflops(device, n=n)
    rounds, batches = (1, 10) if quick else (3, 30)
    out: dict[str, Any] = {
        "study": STUDY,
        "quick": quick,
        "rounds": rounds,
        "minibatches_timed": batches,
        "device_type": device.type,
        "bf16_units": bf16_units(device),
        "matmul_n": n,
        # emulated bf16 (about 1 GFLOP/s): a 256^3 product, two repeats, says how slow in a second
        "matmul_gflops": {"fp32": peak, "bf16": matmul_gflops(device, n=n if native else 256, repeats=10 if native else 2, dtype=torch.bfloat16)},
        "skipped": skipped,
        "ff_epochs": [],
        "recurrent_epochs": [],
        "stacked_epochs": [],
    }
    for hidden in nets:
        results = ff_epochs(hidden, batches=batches, device=device, rounds=rounds, paths=paths)
        base = results[paths[0][0]]["seconds_per_epoch"]
        for (path, precision, fast, compiled), r in zip(paths, results.values()):
            out["ff_epochs"].append({"net": net_name(hidden), "hidden": list(hidden), "path": path, "precision": precision, "fast_paths": fast,
                                     "compiled": compiled, **r, "speed_up": base / r["seconds_per_epoch"], "share": r["gflops"] / peak})
        compiled = any(p[3] for p in paths)  # the compiled stacked way only where compiled paths are timed too
        out["stacked_epochs"].append({"net": net_name(hidden), "hidden": list(hidden), **stacked_epochs(hidden, batches, device, rounds=rounds, compiled=compiled)})
    for hidden in recurrent_nets:
        r = recurrent_epoch(hidden, batches=3 if quick else 10, device=device, compiled=any(p[3] for p in paths),
                            precisions=("fp32", "bf16") if native else ("fp32",), rounds=1 if quick else 2)
        out["recurrent_epochs"].append({"net": net_name(hidden), "hidden": list(hidden), **r, "share": r["gflops"] / peak})
    if local:
        out["local_layer"] = local_layer(device=device, repeats=2 if quick else 5)
    out["wall_time_s"] = time.perf_counter() - start
    out["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    out["provenance"] = provenance(device, {})
    return out


def report(bench: dict[str, Any]) -> list[str]:
    """The lines ``make bench`` prints for a :func:`measure` result."""
    peak = bench["matmul_gflops"]["fp32"]
    lines = [
        f"device: {bench['provenance']['device']} ({bench['provenance']['cpu_model'] if bench['device_type'] == 'cpu' else bench['provenance'].get('gpu', {}).get('name', '')})"
        f"  torch threads: {bench['provenance']['threads']}  bf16 units: {bench['bf16_units']}",
        f"matmul throughput ({bench.get('matmul_n', 2048)}^3): fp32 {peak:,.0f} GFLOP/s, bf16 {bench['matmul_gflops']['bf16']:,.0f} GFLOP/s",
        *(f"not timed: {why}" for why in bench.get("skipped", [])),
        f"supervised FF, one 50k-image epoch, fastest of {bench['rounds']} interleaved round(s) of {bench['minibatches_timed']} minibatches; speed-up: against the first path;",
        "'compiled': FFREPRO_COMPILE=1 (one-pass optimiser, compiled passes); GFLOP/s counts the plain",
        "way's work (each labelled copy multiplied out); share: of the fp32 matmul throughput",
        f"{'net':12} {'path':16} {'s/epoch':>8} {'speed-up':>8} {'TFLOP/ep':>9} {'GFLOP/s':>8} {'share':>6}",
    ]
    for r in bench["ff_epochs"]:
        lines.append(f"{r['net']:12} {r['path']:16} {r['seconds_per_epoch']:8.1f} {r['speed_up']:7.2f}x {r['tflop_per_epoch']:9.2f} {r['gflops']:8.0f} {r['share']:6.0%}")
    for r in bench.get("stacked_epochs", []):
        ways = [f"{way.replace('_', ' ')} {r[f'{way}_seconds_per_epoch']:.1f} ({r[f'{way}_speed_up']:.2f}x)" for way in ("stacked", "stacked_compiled") if f"{way}_speed_up" in r]
        lines.append(f"{r['net']:12} {r['seeds']} seeds as one model, s per seed-epoch: one by one {r['one_by_one_seconds_per_epoch']:.1f}, " + ", ".join(ways))
    for r in bench["recurrent_epochs"]:
        lines.append(f"{'rec ' + r['net']:12} {'fp32':16} {r['seconds_per_epoch']:8.1f} {1:7.2f}x {r['tflop_per_epoch']:9.2f} {r['gflops']:8.0f} {r['share']:6.0%}")
        if "bf16_seconds_per_epoch" in r:
            lines.append(f"{'rec ' + r['net']:12} {'bf16':16} {r['bf16_seconds_per_epoch']:8.1f} {r['bf16_speed_up']:7.2f}x {r['tflop_per_epoch']:9.2f} "
                         f"{r['bf16_gflops']:8.0f} {r['bf16_gflops'] / peak:6.0%}")
        ways = [f"{way.replace('_', ' ')} {r[f'{way}_seconds_per_epoch']:.1f} ({r[f'{way}_speed_up']:.2f}x)" for way in ("stacked", "stacked_compiled") if f"{way}_speed_up" in r]
        if ways:
            lines.append(f"{'rec ' + r['net']:12} {r['stacked_seeds']} seeds as one model, s per seed-epoch: " + ", ".join(ways))
    if "local_layer" in bench:
        r = bench["local_layer"]
        lines.append(f"locally connected 32x32x3, 11x11 fields, batch 100 (CIFAR-10), in necessary GFLOP/s; a dense matmul with as many weights: {r['dense_gflops']:,.0f}")
        labels = {"matrix": "as dense matrix", "tiles": "8x8 tiles, block matmuls", "patches": "copied patches + bmm"}
        if "local_gflops" in r:  # a run from before issue 29: the dense matrix (then used) and patches
            labels, r = {"local": "as dense matrix", "patches": labels["patches"]}, {**r, "used": "local"}
        for name, label in labels.items():
            label += " (used)" if r.get("used") == name else ""
            lines.append(f"  {label:31} forward {r[f'{name}_gflops']:6,.0f} ({r[f'{name}_gflops'] / r['dense_gflops']:4.0%} of dense, {r[f'{name}_gflops'] / peak:.0%} of 2048^3)"
                         f"   forward + weight gradient {r[f'{name}_train_gflops']:6,.0f}   10 forwards + weight gradient (recurrent) {r[f'{name}_recurrent_gflops']:6,.0f}")
        if "tiles_gflops" in r:
            lines.append("  tiles / dense matrix: " + ", ".join(f"{what} {r[f'tiles_{key}'] / r[f'matrix_{key}']:.2f}x" for what, key in
                                                               (("forward", "gflops"), ("forward + weight gradient", "train_gflops"), ("recurrent", "recurrent_gflops"))))
    lines.append(f"({bench['wall_time_s']:.0f} s)")
    return lines


def result_file(device_type: str, root: Path | None = None) -> Path:
    """Where the latest full bench run on a ``device_type`` ("cpu" or "cuda") machine is kept."""
    return (root or results_root()) / STUDY / f"{device_type}.json"


def save(bench: dict[str, Any], root: Path | None = None) -> Path:
    """Write a full run (:func:`measure`) to :func:`result_file`; a quick run is a check, not a
    measurement, and is refused."""
    if bench["quick"]:
        raise ValueError("a quick bench run is not saved: it times too few minibatches to publish; run `make bench` without --quick")
    path = result_file(bench["device_type"], root)
    write_result(path, bench)
    return path


def load(device_type: str = "cpu", root: Path | None = None) -> dict[str, Any]:
    """The saved bench run of ``device_type``; an error naming the command that makes it if it is missing or unreadable."""
    path = result_file(device_type, root)
    bench = read_json_object(path, "bench run", "run `make bench` (python -m ffrepro bench) on such a machine to measure it again")
    missing = [k for k in ("matmul_gflops", "ff_epochs", "provenance", "finished") if k not in bench]
    if missing:
        raise ResultsError(path, f"lacks the field(s) {', '.join(missing)}", "run `make bench` to measure it again")
    return bench


def main(quick: bool = False, save_run: bool = True) -> int:
    bench = measure(quick)
    print("\n".join(report(bench)))
    if save_run and not quick:
        print(f"saved to {save(bench)}")
    return 0
