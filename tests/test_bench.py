"""`make bench` (ffrepro.bench): the speed of every supervised FF path in one run, kept as a results file
with the machine's provenance, and what the supervised chapter says of it. Timings are compared only
within one run; these tests check the bookkeeping, not the machine's speed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from ffrepro import bench
from ffrepro.figures.supervised import bench_paragraph, bench_summary, bench_table
from ffrepro.results import ResultsError

TINY_PATHS = bench.FF_PATHS[:2]  # fp32 and bf16 (the compiled ones take a compiler and a minute)


@pytest.fixture(scope="module")
def quick_run() -> dict[str, Any]:
    return bench.measure(quick=True, nets=((24, 24),), recurrent_nets=((16, 16),), paths=TINY_PATHS, local=False)


def test_a_quick_run_times_every_path_against_the_same_runs_reference(quick_run: dict[str, Any]) -> None:
    rows = quick_run["ff_epochs"]
    native = bench.bf16_native(torch.device("cpu"))  # without bf16 units the bf16 path is not timed (next test)
    assert [r["path"] for r in rows] == [name for name, precision, *_ in TINY_PATHS if native or precision != "bf16"]
    reference = rows[0]["seconds_per_epoch"]
    for r in rows:
        assert r["net"] == "2x24" and r["seconds_per_epoch"] > 0 and r["gflops"] > 0
        assert r["speed_up"] == pytest.approx(reference / r["seconds_per_epoch"])
        assert r["share"] == pytest.approx(r["gflops"] / quick_run["matmul_gflops"]["fp32"])
    assert rows[0]["speed_up"] == 1.0
    stacked = quick_run["stacked_epochs"][0]
    assert stacked["net"] == "2x24" and stacked["seeds"] == 3
    assert stacked["stacked_speed_up"] == pytest.approx(stacked["one_by_one_seconds_per_epoch"] / stacked["stacked_seconds_per_epoch"])
    assert "stacked_compiled_speed_up" not in stacked  # no compiled paths asked for
    assert quick_run["recurrent_epochs"][0]["seconds_per_epoch"] > 0
    assert quick_run["recurrent_epochs"][0]["stacked_seconds_per_epoch"] > 0 and quick_run["recurrent_epochs"][0]["stacked_speed_up"] > 0
    assert quick_run["provenance"]["cpu_model"] and quick_run["quick"] and quick_run["rounds"] == 1
    printed = "\n".join(bench.report(quick_run))
    assert all(name in printed for name, *_ in TINY_PATHS) and "1 interleaved round(s)" in printed and "3 seeds as one model" in printed
    assert quick_run["matmul_n"] == 512 and "(512^3)" in printed


def test_without_bf16_units_the_bf16_paths_are_named_not_timed(monkeypatch: pytest.MonkeyPatch) -> None:
    """An AVX2-only CPU emulates bf16 products at about 1 GFLOP/s: a bf16 epoch there would take hours, and
    the quick run of the test above several minutes. The bench says so and times the rest."""
    monkeypatch.setenv("DNNL_MAX_CPU_ISA", "AVX2")  # how an AVX2-only CPU is mimicked on this one; on such a CPU no flag is found
    run = bench.measure(quick=True, nets=((8, 8),), recurrent_nets=(), paths=TINY_PATHS, local=False)
    assert [r["path"] for r in run["ff_epochs"]] == ["fp32"] and run["bf16_units"].startswith("none")
    assert len(run["skipped"]) == 1 and run["skipped"][0].startswith("bf16: this CPU has no bf16 units")
    assert "not timed: bf16: this CPU has no bf16 units" in "\n".join(bench.report(run))


def test_the_local_layer_is_timed_each_way_and_reported(quick_run: dict[str, Any]) -> None:
    """The locally connected layer's measurement (issue 29): the dense matrix, tiles and patches, each forward,
    forward + weight gradient and recurrent; the report names the way used and the tiles' ratios, and still
    reads a run from before the tiles (dense matrix as 'local')."""
    r = bench.local_layer(batch=2, repeats=1)
    assert r["used"] == "tiles"
    for way in bench.LOCAL_WAYS:
        assert all(r[f"{way}_{key}"] > 0 for key in ("gflops", "train_gflops", "recurrent_gflops")), way
    printed = "\n".join(bench.report({**quick_run, "local_layer": r}))
    assert "8x8 tiles, block matmuls (used)" in printed and "as dense matrix " in printed and "tiles / dense matrix: forward" in printed
    old = {"dense_gflops": 180.0, "local_gflops": 17.0, "patches_gflops": 9.0, "local_train_gflops": 7.0, "local_recurrent_gflops": 15.0,
           "patches_train_gflops": 5.0, "patches_recurrent_gflops": 4.0}
    printed = "\n".join(bench.report({**quick_run, "local_layer": old}))
    assert "as dense matrix (used)" in printed and "tiles" not in printed


def test_a_quick_run_is_not_saved(quick_run: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="quick bench run is not saved"):
        bench.save(quick_run, tmp_path)
    assert not (tmp_path / "bench").exists()


def test_a_full_run_is_saved_and_read_back(quick_run: dict[str, Any], tmp_path: Path) -> None:
    full = {**copy.deepcopy(quick_run), "quick": False}
    path = bench.save(full, tmp_path)
    assert path == tmp_path / "bench" / "cpu.json"
    assert bench.load("cpu", tmp_path) == json.loads(json.dumps(full))


def test_a_missing_or_broken_bench_file_names_the_command_that_remakes_it(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"cpu\.json does not exist; run `make bench`"):
        bench.load("cpu", tmp_path)
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "cpu.json").write_text("{\"ff_epochs\": [")
    with pytest.raises(ResultsError, match="not a readable bench run.*make bench"):
        bench.load("cpu", tmp_path)
    (tmp_path / "bench" / "cpu.json").write_text(json.dumps({"ff_epochs": []}))
    with pytest.raises(ResultsError, match="lacks the field.*matmul_gflops.*make bench"):
        bench.load("cpu", tmp_path)


def _row(net: str, path: str, precision: str, speed_up: float) -> dict[str, Any]:
    return {"net": net, "path": path, "precision": precision, "seconds_per_epoch": 10 / speed_up, "speed_up": speed_up, "gflops": 100 * speed_up, "share": 0.5 * speed_up}


def _fake(speed_ups: dict[str, list[tuple[str, str, float]]]) -> dict[str, Any]:
    rows = [_row(net, path, precision, x) for net, paths in speed_ups.items() for path, precision, x in paths]
    return {"device_type": "cpu", "bf16_units": "avx512_bf16", "matmul_gflops": {"fp32": 200.0, "bf16": 800.0}, "ff_epochs": rows, "finished": "2026-11-28T19:00:00+00:00",
            "provenance": {"cpu_model": "Some CPU", "threads": 2, "git_commit": "abcdef0123", "device": "cpu (x86_64, 2 threads)"}}


def test_the_chapter_reports_each_nets_fastest_path_and_whether_both_are_halved() -> None:
    paths = [("fp32 reference", "fp32", 1.0), ("fp32", "fp32", 1.1), ("bf16", "bf16", 2.3), ("bf16 compiled", "bf16", 2.1)]
    summary = bench_summary(_fake({"3x1000": paths, "4x2000": [(p, q, x + 0.5) for p, q, x in paths]}))
    assert summary["best"] == {"3x1000": ("bf16", 2.3), "4x2000": ("bf16", 2.8)}
    assert summary["fp32_best"] == {"3x1000": 1.1, "4x2000": 1.6}
    assert summary["halved"] and summary["machine"] == "Some CPU, 2 threads" and summary["commit"] == "abcdef0" and summary["finished"] == "2026-11-28"
    slow = bench_summary(_fake({"3x1000": [("fp32 reference", "fp32", 1.0), ("bf16", "bf16", 1.9)], "4x2000": paths}))
    assert not slow["halved"]  # 1.9x at one width is not a halving
    table = bench_table(_fake({"3x1000": paths}))
    assert list(table.index) == [("3x1000", p) for p, _, _ in paths] and table.loc[("3x1000", "bf16"), "speed-up"] == "2.30x"


def test_the_committed_cpu_bench_run_is_a_full_run_of_every_path() -> None:
    run = bench.load("cpu")
    assert not run["quick"] and run["rounds"] == 3
    for hidden in bench.NETS:
        rows = [r for r in run["ff_epochs"] if r["net"] == bench.net_name(hidden)]
        assert [r["path"] for r in rows] == [name for name, *_ in bench.FF_PATHS]
        for r in rows:  # the ratios are the run's own timings
            assert r["speed_up"] == pytest.approx(rows[0]["seconds_per_epoch"] / r["seconds_per_epoch"])
    assert run["provenance"]["git_dirty"] is False, "measure the committed bench run from a clean tree (commit, then `make bench`)"


def test_the_chapters_paragraph_says_what_the_run_shows_or_that_there_is_none() -> None:
    paths = [("fp32 reference", "fp32", 1.0), ("fp32", "fp32", 1.1), ("bf16", "bf16", 2.3)]
    text = bench_paragraph(_fake({"3x1000": paths, "4x2000": [("fp32 reference", "fp32", 1.0), ("bf16", "bf16", 1.9)]}))
    assert "Some CPU, 2 threads, 2026-11-28, commit `abcdef0`" in text and "200 GFLOP/s in fp32 and 800 in bf16" in text
    assert "2.30 times as fast at 3 x 1000 (bf16) and 1.90 times as fast at 4 x 2000 (bf16)" in text and "**does not halve**" in text
    assert "most of the speed-up comes from the bf16 products" in text
    assert "**halves**" in bench_paragraph(_fake({"3x1000": paths}))
    assert "No `make bench` run is saved" in bench_paragraph(None)


def test_where_bf16_is_emulated_the_paragraph_does_not_credit_it() -> None:
    paths = [("fp32 reference", "fp32", 1.0), ("fp32", "fp32", 1.2), ("bf16", "bf16", 0.3)]
    text = bench_paragraph(_fake({"3x1000": paths}))
    assert "1.20 times as fast at 3 x 1000 (fp32)" in text and "bf16 products do not pay" in text and "comes from the bf16" not in text


def test_a_gpu_run_is_described_without_the_cpus_reasoning() -> None:
    fake = _fake({"4x2000": [("fp32 reference", "fp32", 1.0), ("bf16", "bf16", 3.0)]})
    fake["device_type"] = "cuda"
    fake["provenance"]["gpu"] = {"name": "NVIDIA H200"}
    text = bench_paragraph(fake)
    assert text.startswith("The latest full `make bench` run on a GPU (`results/bench/cuda.json`): NVIDIA H200, 2026-11-28")
    assert "3.00 times as fast at 4 x 2000 (bf16)" in text and "bf16 units" not in text


def test_the_paragraph_reports_stacked_seeds_from_the_runs_numbers() -> None:
    fake = _fake({"3x1000": [("fp32 reference", "fp32", 1.0)]})
    assert "stacked" not in bench_paragraph(fake)  # a run from before stacking was timed
    fake["stacked_epochs"] = [
        {"net": "3x1000", "seeds": 3, "one_by_one_seconds_per_epoch": 9.0, "stacked_seconds_per_epoch": 8.0, "stacked_speed_up": 1.125,
         "stacked_compiled_seconds_per_epoch": 7.5, "stacked_compiled_speed_up": 1.2},
        {"net": "4x2000", "seeds": 3, "one_by_one_seconds_per_epoch": 40.0, "stacked_seconds_per_epoch": 44.0, "stacked_speed_up": 40 / 44},
    ]
    text = bench_paragraph(fake)
    assert "at 3 x 1000, 9.0 s one by one, stacked 8.0 s (1.12x), stacked and compiled 7.5 s (1.20x); at 4 x 2000, 40.0 s one by one, stacked 44.0 s (0.91x)" in text
    assert "stacking pays at some widths and not at others" in text
    fake["stacked_epochs"] = fake["stacked_epochs"][1:]
    assert "stacking pays at no width measured" in bench_paragraph(fake) and "meant for a GPU" in bench_paragraph(fake)
    fake["device_type"], fake["provenance"]["gpu"] = "cuda", {"name": "NVIDIA H200"}
    fake["stacked_epochs"][0]["stacked_speed_up"] = 2.5
    assert "On this GPU stacking pays at every width measured" in bench_paragraph(fake) and "meant for a GPU" not in bench_paragraph(fake)
