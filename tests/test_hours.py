"""The CPU-hours table (ffrepro/hours.py): which bench rate prices which entry, before and after
issue 29's ways, and which entries it lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ffrepro import hours
from ffrepro.cost import epoch_examples, train_flops_per_example
from ffrepro.registry import EXPERIMENTS, get_experiment
from ffrepro.results import result_path, write_result
from test_chapter_content import result


def _bench(local: dict[str, float] | None = None, recurrent_bf16: bool = True) -> dict[str, Any]:
    def row(hidden: list[int], path: str, precision: str, fast: bool, compiled: bool, gflops: float) -> dict[str, Any]:
        return {"net": f"{len(hidden)}x{hidden[0]}", "hidden": hidden, "path": path, "precision": precision, "fast_paths": fast, "compiled": compiled, "gflops": gflops}

    wide = [2000] * 4
    rec = {"hidden": [2000] * 3, "gflops": 180.0, **({"bf16_gflops": 450.0} if recurrent_bf16 else {})}
    return {
        "device_type": "cpu", "bf16_units": "avx512_bf16", "finished": "2026-12-07T00:00:00+00:00", "matmul_gflops": {"fp32": 200.0, "bf16": 800.0},
        "provenance": {"cpu_model": "Some CPU", "threads": 2, "git_commit": "abcdef0123"},
        "ff_epochs": [row([1000] * 3, "fp32", "fp32", True, False, 999.0),  # the narrower net is not the one that prices
                      row(wide, "fp32 reference", "fp32", False, False, 140.0), row(wide, "fp32", "fp32", True, False, 150.0),
                      row(wide, "bf16", "bf16", True, False, 400.0), row(wide, "bf16 compiled", "bf16", True, True, 410.0)],
        "recurrent_epochs": [{"hidden": [500] * 3, "gflops": 99.0}, rec],
        "local_layer": local if local is not None else {"matrix_train_gflops": 8.0, "matrix_recurrent_gflops": 15.0, "tiles_train_gflops": 30.0,
                                                         "tiles_recurrent_gflops": 40.0, "patches_train_gflops": 5.0, "patches_recurrent_gflops": 4.0},
    }


def test_the_rates_are_the_widest_nets_fast_eager_paths() -> None:
    rates = hours.bench_rates(_bench())
    assert rates["dense"] == 150.0 and rates["dense_bf16"] == 400.0 and rates["recurrent"] == 180.0 and rates["recurrent_bf16"] == 450.0
    assert rates["tiles_recurrent"] == 40.0 and rates["matrix"] == 8.0
    old = hours.bench_rates(_bench({"local_gflops": 17.0, "local_train_gflops": 7.0, "local_recurrent_gflops": 14.0, "patches_train_gflops": 5.0, "patches_recurrent_gflops": 4.0}))
    assert old["matrix"] == 7.0 and old["matrix_recurrent"] == 14.0 and "tiles" not in old  # before issue 29 "local" was the dense matrix


def test_each_entry_is_priced_by_the_way_its_products_run() -> None:
    rates = hours.bench_rates(_bench())
    dense = get_experiment("mnist-ff-jitter").config("paper")
    assert hours.seconds_per_tflop(dense, rates, "fp32") == pytest.approx(1e3 / 150.0)
    assert hours.seconds_per_tflop(dense, rates, "bf16") == pytest.approx(1e3 / 400.0)
    rec = get_experiment("mnist-ff-recurrent").config("paper")
    assert hours.seconds_per_tflop(rec, rates, "bf16") == pytest.approx(1e3 / 450.0)
    assert hours.seconds_per_tflop(rec, hours.bench_rates(_bench(recurrent_bf16=False)), "bf16") is None
    cifar = get_experiment("cifar10-ff-min-ssq-2layers").config("paper")  # recurrent, 11 x 11 windows on 32 x 32 maps: tiles now, dense matrices before
    assert hours.seconds_per_tflop(cifar, rates, "fp32") == pytest.approx(1e3 / 40.0)
    assert hours.seconds_per_tflop(cifar, rates, "fp32", before=True) == pytest.approx(1e3 / 15.0)
    assert hours.seconds_per_tflop(cifar, rates, "bf16") is None  # no bf16 for locally connected maps
    # MNIST's small maps stay dense matrices, with less excess work than CIFAR-10's: faster than its matrix, slower than dense
    local = get_experiment("mnist-ff-unsupervised-local").config("paper")
    assert hours.seconds_per_tflop(local, rates, "fp32") == hours.seconds_per_tflop(local, rates, "fp32", before=True)
    assert 1e3 / 150.0 < hours.seconds_per_tflop(local, rates, "fp32") < 1e3 / 8.0


def test_the_table_prices_only_missing_seeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    done = "mnist-ff-recurrent-2layers"
    for seed in (0, 1):
        write_result(result_path(done, "paper", seed, tmp_path), result(done, "paper", seed, 1.5, seconds=600.0))
    for seed in (0, 1, 2):
        write_result(result_path("mnist-bp", "paper", seed, tmp_path), result("mnist-bp", "paper", seed, 1.4))
    rows = {r["experiment"]: r for r in hours.hours_table(_bench())}
    assert "mnist-bp" not in rows and set(rows) == set(EXPERIMENTS) - {"mnist-bp"}
    row, cfg = rows[done], get_experiment(done).config("paper")
    tflop = train_flops_per_example(cfg) * epoch_examples(cfg) * cfg.optim.epochs / 1e12
    assert row["seeds done"] == 2 and row["TFLOP a seed"] == pytest.approx(tflop)
    assert row["hours fp32"] == pytest.approx(tflop * 1e3 / 180.0 / 3600)  # one seed left
    assert row["hours bf16"] == pytest.approx(tflop * 1e3 / 450.0 / 3600) and row["bf16"] == "validated"
    per_epoch = tflop / cfg.optim.epochs
    assert row["hours measured"] == pytest.approx(tflop / (per_epoch / 600.0) / 3600) and row["its runs"] == "2 seeds"
    assert rows["mnist-bp-jitter"]["hours bf16"] is None and rows["mnist-ff-jitter"]["bf16"] == "validated"


def test_totals_only_where_every_entry_has_its_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    text = hours.hours_markdown(_bench(), ids=["mnist-ff-jitter", "mnist-ff-recurrent"])
    total = text.splitlines()[-1].split("|")
    assert total[4].strip().startswith("**") and total[7].strip() == "—"  # no CPU run of either: no measured total
    assert "Some CPU (2 threads, bf16 units: avx512_bf16, 2026-12-07, commit `abcdef0`)" in text
    no_tiles = hours.hours_markdown(_bench({"local_gflops": 17.0, "local_train_gflops": 7.0, "local_recurrent_gflops": 14.0}), ids=["cifar10-ff-min-ssq-2layers", "mnist-ff-jitter"])
    assert no_tiles.splitlines()[-1].split("|")[5].strip() == "—"  # the old bench has no tiles: no fp32 total now


def test_the_all_results_page_prices_by_the_committed_bench_or_says_why_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ffrepro import bench
    from ffrepro.figures import summary

    caption, table = summary.hours_section()
    assert caption == hours.hours_caption(bench.load("cpu")) and table is not None and list(table.columns) == list(hours.COLUMNS[1:])
    monkeypatch.setenv("FFREPRO_RESULTS", str(tmp_path))
    caption, table = summary.hours_section()
    assert caption.startswith("No readable `make bench` run of a CPU is on disk") and table is None
    write_result(bench.result_file("cpu", tmp_path), _bench())
    caption, table = summary.hours_section()
    assert table is not None and table.loc["mnist-ff-recurrent", "seeds done"] == "0 of 3" and table.index[-1] == "all"
