"""The CPU-hours still to train: every paper-profile entry that lacks three complete seeds, priced by
its analytic FLOPs (:mod:`ffrepro.cost`) at the rates the last ``make bench`` measured on this kind of
machine (issue 29, part 5).

An entry's time is its training FLOPs over the rate of the way its products run: dense FF layers at
the supervised 4 x 2000 epoch's rate, recurrent FF at the recurrent 3 x 2000 epoch's, backprop at the
dense FF rate (``make bench`` times no backprop epoch), and each locally connected map at the rate of
the way :func:`ffrepro.local.computation_for` computes it, as the bench measured it on a CIFAR-10
map (:data:`ffrepro.bench.LOCAL_LAYER`); a dense matrix's rate is scaled by how much more excess
work it does than the bench's (MNIST's small maps do less). A net whose maps run at different rates is priced by the
weights-weighted mean time per FLOP. Evaluation and the unsupervised nets' linear readouts are not
counted (a few per cent of a run); a seed with a checkpoint on the machine costs less.

Three prices per entry: ``fp32 before``, the ways of the code before issue 29 (locally connected maps
as dense matrices or copied patches, float32 everywhere); ``fp32``, today's ways (tiles); ``bf16``,
today's ways with bf16 products where the method has them (:data:`ffrepro.methods.METHODS`' ``bf16``),
on a machine with bf16 units, ``None`` elsewhere. ``validated`` says whether the method's bf16 has been
validated against fp32 at the cpu profile (the book shows that comparison): only then does a paper run
use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ffrepro.bench import LOCAL_LAYER
from ffrepro.config import RunConfig
from ffrepro.cost import achieved, epoch_examples, local_maps, train_flops_per_example
from ffrepro.local import computation_for, computed_dense
from ffrepro.results import load_results

PAPER_SEEDS = (0, 1, 2)


def bench_rates(bench: dict[str, Any]) -> dict[str, float]:
    """GFLOP/s of each way of computing, from a ``make bench`` result (:func:`ffrepro.bench.load`):
    ``dense``/``dense_bf16`` (supervised FF 4 x 2000, the fast eager path), ``recurrent``/``recurrent_bf16``
    (recurrent FF 3 x 2000), and the CIFAR-10 locally connected layer's ``tiles``, ``patches`` and
    ``matrix`` ways, feed-forward (forward + weight gradient) and ``_recurrent`` (ten forwards + weight
    gradient), in necessary FLOPs. A way the bench did not time is absent."""
    rates: dict[str, float] = {}
    widest = max((r["hidden"] for r in bench["ff_epochs"]), key=lambda h: sum(h), default=None)
    for r in bench["ff_epochs"]:
        if r["hidden"] == widest and not r["compiled"] and r["fast_paths"]:
            rates["dense" if r["precision"] == "fp32" else f"dense_{r['precision']}"] = r["gflops"]
    if bench.get("recurrent_epochs"):
        r = max(bench["recurrent_epochs"], key=lambda r: sum(r["hidden"]))
        rates["recurrent"] = r["gflops"]
        if "bf16_gflops" in r:
            rates["recurrent_bf16"] = r["bf16_gflops"]
    local = bench.get("local_layer", {})
    old = "local_gflops" in local  # a run from before issue 29: "local" was the dense matrix
    for way in ("matrix", "tiles", "patches"):
        key = "local" if old and way == "matrix" else way
        for suffix in ("train", "recurrent"):
            if f"{key}_{suffix}_gflops" in local:
                rates[f"{way}{'' if suffix == 'train' else '_recurrent'}"] = local[f"{key}_{suffix}_gflops"]
    return rates


def _excess(shape: tuple[int, int, int], spec: Any) -> float:
    """Multiply-adds of a locally connected map's dense matrix per necessary one (its weights)."""
    c, h, w = shape
    return c * h * w * spec.units / spec.weights(c)


def seconds_per_tflop(cfg: RunConfig, rates: dict[str, float], precision: str, before: bool = False) -> float | None:
    """Seconds per TFLOP of a config's training at ``rates`` (:func:`bench_rates`), in ``precision``; ``before``:
    the ways of the code before issue 29. None where a rate it needs was not measured (or the method has
    no such precision)."""
    recurrent = cfg.method == "ff-recurrent"
    suffix = "" if precision == "fp32" else f"_{precision}"
    dense_key = ("recurrent" if recurrent else "dense") + suffix
    maps = local_maps(cfg)
    if not maps:
        rate = rates.get(dense_key)
        return None if rate is None else 1e3 / rate
    if precision != "fp32":
        return None  # locally connected maps have no bf16 path yet
    total_weights, total_time = 0.0, 0.0
    for shape, spec in maps:
        weights = spec.weights(shape[0])
        way = computation_for(shape, spec) if not before else ("dense" if computed_dense(shape, spec) else "patches")
        if way == "dense":  # the scattered matrix: the bench's map's rate, scaled by how much excess work each matrix does
            rate = rates.get(f"matrix{'_recurrent' if recurrent else ''}")
            rate = None if rate is None else rate * _excess(*LOCAL_LAYER) / _excess(shape, spec)
        else:
            rate = rates.get(f"{way}{'_recurrent' if recurrent else ''}")
        if rate is None:
            return None
        total_weights += weights
        total_time += weights / rate
    return 1e3 * total_time / total_weights


def missing_seeds(exp_id: str, profile: str = "paper", seeds: Sequence[int] = PAPER_SEEDS) -> list[int]:
    """The seeds of an entry without a complete result of its current config on disk."""
    from ffrepro.queue import is_done

    return [s for s in seeds if not is_done(exp_id, profile, s)]


def run_rate(exp_id: str, profile: str = "paper") -> tuple[float, int] | None:
    """The training rate (GFLOP/s, :func:`ffrepro.cost.achieved`) the entry's own ``profile`` runs on a CPU
    achieved, finished or not, mean over its seeds on disk, and how many seeds. Their epochs' times
    include validation, the element-wise work the FLOPs leave out (the unsupervised nets' negative
    images, for one) and whatever else shared the machine: usually more hours than the bench's rates
    give. None if no such run is on disk. (The cpu profile's runs are no guide: narrower layers, and
    often one thread.)"""
    rates = [achieved(r)["tflops"] * 1e3 for r in load_results(exp_id, profile) if str(r["provenance"].get("device", "")).startswith("cpu")]
    return (sum(rates) / len(rates), len(rates)) if rates else None


def hours_table(bench: dict[str, Any], profile: str = "paper", ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One row per entry (``ids``, default every registry entry) that lacks complete seeds of ``profile``:
    seeds done, TFLOP per seed, and the CPU-hours of its missing seeds in ``fp32 before``, ``fp32`` and
    ``bf16`` (None where not measured or not implemented), with ``bf16 validated``."""
    from ffrepro.methods import METHODS
    from ffrepro.registry import EXPERIMENTS, get_experiment

    rates = bench_rates(bench)
    bf16_units = not str(bench.get("bf16_units", "none")).startswith("none")  # ffrepro.bench.bf16_units: "none (...)" where bf16 is emulated
    rows = []
    for exp_id in ids or list(EXPERIMENTS):
        cfg = get_experiment(exp_id).config(profile)
        missing = missing_seeds(exp_id, profile)
        if not missing:
            continue
        tflop = train_flops_per_example(cfg) * epoch_examples(cfg) * cfg.optim.epochs / 1e12
        bf16 = METHODS[cfg.method].bf16

        def hours(precision: str, before: bool = False) -> float | None:
            s = seconds_per_tflop(cfg, rates, precision, before)
            return None if s is None else len(missing) * tflop * s / 3600

        measured = run_rate(exp_id, profile)
        rows.append({
            "experiment": exp_id,
            "seeds done": len(PAPER_SEEDS) - len(missing),
            "TFLOP a seed": tflop,
            "hours measured": None if measured is None else len(missing) * tflop * 1e3 / measured[0] / 3600,
            "its runs": None if measured is None else f"{measured[1]} seed{'s' if measured[1] > 1 else ''}",
            "hours fp32 before": hours("fp32", before=True),
            "hours fp32": hours("fp32"),
            "hours bf16": hours("bf16") if bf16 != "none" and bf16_units else None,
            "bf16": bf16,
            "auto": getattr(cfg.model, "precision", "fp32") == "auto",  # the paper config takes bf16 where there are bf16 units
        })
    return rows


def _hours_text(h: float | None) -> str:
    return "—" if h is None else f"{h:,.1f}"


COLUMNS = ("entry", "seeds done", "TFLOP a seed", "hours fp32 before", "hours fp32", "hours bf16", "hours at its CPU runs' rate")


def hours_caption(bench: dict[str, Any], profile: str = "paper") -> str:
    """What :func:`hours_text_rows` are: the bench they price by and what each column means."""
    prov = bench.get("provenance", {})
    return (f"CPU-hours to the missing {profile}-profile seeds, at the rates of `make bench` on {prov.get('cpu_model', bench.get('device_type'))} "
            f"({prov.get('threads', '?')} threads, bf16 units: {bench.get('bf16_units', '?')}, {str(bench.get('finished', ''))[:10]}, "
            f"commit `{str(prov.get('git_commit', ''))[:7]}`). Training only; evaluation adds a few per cent. "
            "*fp32 before*: the code before issue 29 (local maps as dense matrices); *bf16*: where the method has bf16 products "
            "(*validated*: the method's bf16 checked against fp32 at the cpu profile; *used*: the entry's paper config says "
            "`model.precision = \"auto\"`, so it runs in bf16 where there are bf16 units).")


def hours_text_rows(bench: dict[str, Any], profile: str = "paper", ids: Sequence[str] | None = None) -> list[dict[str, str]]:
    """:func:`hours_table` as text, one dict per entry keyed by :data:`COLUMNS`, and a total row (a total only
    where every entry has its figure; the bf16 total takes each entry's fastest way, fp32 where it has no bf16)."""
    columns = ("hours fp32 before", "hours fp32", "hours bf16", "hours measured")
    totals: dict[str, list[float | None]] = {k: [] for k in columns}
    out = []
    for r in hours_table(bench, profile, ids):
        runs = f" ({r['its runs']})" if r["its runs"] else ""
        mark = " (validated, used)" if r["auto"] and r["bf16"] == "validated" else " (validated)" if r["bf16"] == "validated" else ""
        bf16 = _hours_text(r["hours bf16"]) + (mark if r["hours bf16"] is not None else "")
        out.append(dict(zip(COLUMNS, (r["experiment"], f"{r['seeds done']} of {len(PAPER_SEEDS)}", f"{r['TFLOP a seed']:,.0f}",
                                      _hours_text(r["hours fp32 before"]), _hours_text(r["hours fp32"]), bf16, _hours_text(r["hours measured"]) + runs))))
        for k in columns:
            totals[k].append(r[k] if k != "hours bf16" else r["hours bf16"] if r["hours bf16"] is not None else r["hours fp32"])
    total = {k: "—" if None in v else f"{sum(v):,.0f}" for k, v in totals.items()}  # type: ignore[arg-type]
    out.append(dict(zip(COLUMNS, ("all", "", "", total["hours fp32 before"], total["hours fp32"], f"{total['hours bf16']} (bf16 where it exists)",
                                  total["hours measured"]))))
    return out


def hours_markdown(bench: dict[str, Any], profile: str = "paper", ids: Sequence[str] | None = None) -> str:
    """:func:`hours_caption` and :func:`hours_text_rows` as a markdown table (the README's)."""
    rows = hours_text_rows(bench, profile, ids)
    lines = [hours_caption(bench, profile), "", "| " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * (len(COLUMNS) - 1)]
    lines += ["| " + " | ".join(r.values()) + " |" for r in rows[:-1]]
    lines.append("| " + " | ".join(f"**{v}**" if v and v != "—" and i != 5 else v for i, v in enumerate(rows[-1].values())) + " |")
    return "\n".join(lines)
