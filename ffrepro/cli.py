"""Command line: ``python -m ffrepro {list,run,queue,check,table,references,data,memory,bench,publish}``."""

from __future__ import annotations

import argparse
import sys
import time

from ffrepro.config import PROFILES, ConfigError, override


def _cmd_list(args: argparse.Namespace) -> int:
    from ffrepro.registry import EXPERIMENTS, variant_ids

    if args.variants:  # one id per line, for a shell loop or `queue`
        print("\n".join(variant_ids(args.variants)))
        return 0
    for exp in EXPERIMENTS.values():
        hidden = "x".join(map(str, exp.paper_config.model.hidden))
        paper = "  n/a" if exp.paper_value is None else f"{exp.paper_value:5.2f}"
        more = f"  (+{len(exp.variants)} variants)" if exp.variants else ""
        print(f"{exp.id:28} §{exp.section:4} paper {paper} %  {hidden:20} {exp.paper_config.optim.epochs:3d} epochs  {exp.title}{more}")
    return 0


def _parse_sets(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--set expects section.field=value, got {pair!r}")
        out[key] = value
    return out


def _cmd_run(args: argparse.Namespace) -> int:
    from ffrepro.registry import all_ids, get_experiment, variant_ids
    from ffrepro.runner import resolve_device, run, run_seeds

    ids = [i for arg in args.id for i in (all_ids() if arg == "all" else [arg])]
    if args.with_variants:  # each entry named, followed by its variants
        ids = [v for i in ids for v in ([i] if "/" in i else [i, *variant_ids(i)])]
        ids = list(dict.fromkeys(ids))
    # an unknown id or variant, a bad --set or a device this machine lacks fails before any training
    configs = [get_experiment(exp_id).config(args.profile) for exp_id in ids]
    if args.set:
        configs = [override(cfg, _parse_sets(args.set)) for cfg in configs]
    device = resolve_device(args.device)
    for exp_id, cfg in zip(ids, configs):
        options = dict(config=cfg, fresh=args.fresh, device=device, time_budget_s=None if args.time_budget is None else args.time_budget * 60,
                       stop_after_epochs=args.stop_after_epochs, progress=not args.no_progress)
        if args.stack:  # the seeds together, as one stacked model where the config allows
            run_seeds(exp_id, args.profile, args.seed, stack=True, **options)  # type: ignore[arg-type]
            continue
        for seed in args.seed:
            run(exp_id, args.profile, seed, **options)  # type: ignore[arg-type]
    return 0


def _cmd_queue(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ffrepro.queue import CAMPAIGN, land, landable, plan, progress_text, run_queue, summary

    if args.campaign:  # the MNIST paper-profile campaign (scripts/campaign.sh): its entries, in its order
        if args.ids or args.profile != "paper" or args.seeds != [0, 1, 2] or args.stack:
            raise ConfigError("queue --campaign runs ffrepro.queue.CAMPAIGN at the paper profile, seeds 0 1 2, seed by seed; drop the ids, --profile, --seeds and --stack")
        args.ids = list(CAMPAIGN)
    if args.landable or args.land:
        pairs = landable(Path(args.landable or args.land), tuple(args.ids or CAMPAIGN), tuple(args.seeds), args.profile)
        print("\n".join(f"finished, not landed: {dst}" for _, dst in pairs) or "nothing finished to land")
        if args.land:
            land(pairs)
        return 0
    if args.progress:  # what each job with a log written in the last half hour says of itself
        jobs = [j for j in plan(args.profile, args.seeds, args.ids or None, Path(args.log_dir), keep_order=args.campaign)
                if j.log.exists() and time.time() - j.log.stat().st_mtime < 1800]
        for job in jobs:
            job.started = job.log.stat().st_ctime
            print(progress_text(job))
        return 0
    if args.list:  # one "ID SEED" per line (never stacked), for make -j or a cluster's job array
        print("\n".join(f"{j.exp_id} {j.seeds[0]}" for j in plan(args.profile, args.seeds, args.ids or None, Path(args.log_dir), keep_order=args.campaign)))
        return 0
    jobs = plan(args.profile, args.seeds, args.ids or None, Path(args.log_dir), stack=args.stack, keep_order=args.campaign)
    if args.budget is None:
        raise ConfigError("queue needs --budget MINUTES (or --list to print the jobs)")
    print(f"{len(jobs)} jobs to run: " + ", ".join(j.name for j in jobs), flush=True)
    done = run_queue(jobs, args.parallel, args.budget * 60, min_start_s=args.min_start * 60)
    print(summary(done))
    return 1 if any(j.returncode not in (None, 0) for j in done) else 0


def _cmd_check(args: argparse.Namespace) -> int:
    from ffrepro.report import check_all, format_checks

    checks = check_all(tuple(args.profile))
    print(format_checks(checks))
    return 1 if any(c.status == "FAIL" for c in checks) else 0


def _cmd_table(args: argparse.Namespace) -> int:
    from ffrepro.report import markdown_summary, update_readme
    from ffrepro.results import REPO_ROOT

    if args.update_readme:
        changed = update_readme(REPO_ROOT / "README.md")
        print("README.md updated" if changed else "README.md already up to date")
    else:
        print(markdown_summary())
    return 0


def _cmd_hours(args: argparse.Namespace) -> int:
    from ffrepro import bench
    from ffrepro.hours import hours_markdown

    print(hours_markdown(bench.load(args.device), args.profile))
    return 0


def _cmd_references(args: argparse.Namespace) -> int:
    from ffrepro.references import format_bands, make_reference, read_reference
    from ffrepro.registry import EXPERIMENTS, get_experiment

    ids = args.id or list(EXPERIMENTS)
    for exp_id in ids:
        get_experiment(exp_id)  # an unknown id fails before any training
    for exp_id in ids:
        ref = make_reference(exp_id) if not args.show else read_reference(exp_id)
        print(f"{exp_id}: {len(ref['runs'])} runs on {ref['machine']['cpu_model']}")
        print(format_bands(ref))
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    import time

    from ffrepro.data import CIFAR10_CACHE, cifar10_dir, ensure_cifar10, ensure_mnist, verify_cifar10, verify_mnist

    if args.dataset in ("mnist", "all"):
        raw = ensure_mnist()
        for name, h in verify_mnist(raw).items():
            print(f"{raw / name}  md5 {h}  ok")
    if args.dataset in ("cifar10", "all"):
        start = time.perf_counter()
        cifar = ensure_cifar10()
        print(f"{cifar10_dir() / CIFAR10_CACHE}  from {cifar.source}  ({time.perf_counter() - start:.1f} s)")
        for split, m in verify_cifar10(cifar).items():
            print(
                f"  {split}: {len(cifar.split(split)[1]):,} images, {m.per_class:,} per class, first labels {m.first_labels}, "
                f"mean ({', '.join(f'{v:.4f}' for v in m.mean)}), std ({', '.join(f'{v:.4f}' for v in m.std)})  ok"
            )
        for name, h in cifar.sha256.items():
            print(f"  {name}  sha256 {h}")
    return 0


def _cmd_memory(args: argparse.Namespace) -> int:
    from ffrepro.memory import run_study
    from ffrepro.runner import resolve_device

    run_study(args.profile, resolve_device(args.device), fresh=args.fresh)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from ffrepro.bench import main as bench_main

    return bench_main(args.quick, save_run=not args.no_save)


def _cmd_publish(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ffrepro.publish import SITE, PublishError, publish

    try:
        publish(site=Path(args.site) if args.site else SITE, dry_run=args.dry_run, remote=args.remote, branch=args.branch)
    except PublishError as exc:
        print(f"publish refused: {exc}", file=sys.stderr)
        return 5
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ffrepro", description="Reproduce Hinton's Forward-Forward paper.")
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="list the registered experiments")
    ls.add_argument("--variants", metavar="ID", help="list the ids of ID's variants instead (ID/VARIANT, one per line)")
    ls.set_defaults(fn=_cmd_list)
    r = sub.add_parser("run", help="train and evaluate experiments (ID, ID/VARIANT, or 'all': every entry and its variants)")
    r.add_argument("id", nargs="+")
    r.add_argument("--profile", default="paper", help=f"one of {', '.join(PROFILES)} (default paper)")
    r.add_argument("--seed", type=int, nargs="+", default=[0])
    r.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="override a config field")
    r.add_argument("--fresh", action="store_true", help="ignore results and checkpoints on disk")
    r.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    r.add_argument("--time-budget", type=float, default=None, metavar="MINUTES", help="stop (resumably) before this much training time")
    r.add_argument("--stop-after-epochs", type=int, default=None, help="stop (resumably) after this epoch; 0 evaluates the last checkpoint without training")
    r.add_argument("--no-progress", action="store_true", help="no progress bar (epoch lines are still logged)")
    r.add_argument("--with-variants", action="store_true", help="also every variant of each entry named (a study's runs)")
    r.add_argument("--stack", action="store_true", help="train the seeds together as one stacked model (FF of every kind; backprop with Adam in fp32: "
                   "the same numbers per seed up to rounding, fewer and larger products); other configs run seed by seed")
    r.set_defaults(fn=_cmd_run)
    q = sub.add_parser("queue", help="run every missing or incomplete (experiment, seed) of a profile as parallel processes within a time budget")
    q.add_argument("ids", nargs="*", help="experiment ids (default: every entry and its variants, in the order of ffrepro.queue.PRIORITY)")
    q.add_argument("--profile", default="paper", choices=PROFILES)
    q.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    q.add_argument("--parallel", type=int, default=1, help="processes at a time (several share one GPU well)")
    q.add_argument("--budget", type=float, default=None, metavar="MINUTES", help="training stops this long after the start; each job resumes later from its checkpoint")
    q.add_argument("--list", action="store_true", help="print the missing jobs, one 'ID SEED' per line, and run nothing")
    q.add_argument("--min-start", type=float, default=1.0, metavar="MINUTES", help="start no job with less time than this left")
    q.add_argument("--log-dir", default="logs/queue", help="one log file per job")
    q.add_argument("--stack", action="store_true", help="one process per entry for its missing seeds, trained as one stacked model where the config allows (run --stack)")
    q.add_argument("--campaign", action="store_true", help="the MNIST paper-profile campaign: ffrepro.queue.CAMPAIGN in its order (scripts/campaign.sh)")
    q.add_argument("--progress", action="store_true", help="each running job's epoch and projected finish, from its log, and run nothing")
    q.add_argument("--landable", metavar="RESULTS_DIR", help="list the finished results under RESULTS_DIR (a campaign worktree's) that this checkout lacks")
    q.add_argument("--land", metavar="RESULTS_DIR", help="copy them into this checkout's results (commit them at once)")
    q.set_defaults(fn=_cmd_queue)
    c = sub.add_parser("check", help="compare committed results with the paper's numbers")
    c.add_argument("--profile", nargs="+", default=["cpu", "paper"])
    c.set_defaults(fn=_cmd_check)
    t = sub.add_parser("table", help="the reproduced-vs-paper table in markdown")
    t.add_argument("--update-readme", action="store_true", help="rewrite the table block in README.md")
    t.set_defaults(fn=_cmd_table)
    h = sub.add_parser("hours", help="the CPU-hours each entry's missing seeds will take, at the last bench run's rates (the README's table)")
    h.add_argument("--profile", default="paper", choices=PROFILES)
    h.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="whose bench run prices them (results/bench/DEVICE.json)")
    h.set_defaults(fn=_cmd_hours)
    ref = sub.add_parser("references", help="rerun the smoke references (seeds x thread counts) and print their bands")
    ref.add_argument("id", nargs="*", help="experiment ids (default: all)")
    ref.add_argument("--show", action="store_true", help="print the committed references' bands without running")
    ref.set_defaults(fn=_cmd_references)
    d = sub.add_parser("data", help="fetch and verify the data sets")
    d.add_argument("dataset", nargs="?", default="mnist", choices=("mnist", "cifar10", "all"), help="which (default mnist)")
    d.set_defaults(fn=_cmd_data)
    mem = sub.add_parser("memory", help="training memory against depth: FF's joint, streaming and layer-by-layer steps and BP (results/memory-depth/)")
    mem.add_argument("--profile", default="cpu", help="smoke, cpu or paper (default cpu)")
    mem.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    mem.add_argument("--fresh", action="store_true", help="measure again even if the study is on disk")
    mem.set_defaults(fn=_cmd_memory)
    b = sub.add_parser("bench", help="matmul throughput and FF epoch speed, in one run (saved to results/bench/DEVICE.json)")
    b.add_argument("--quick", action="store_true", help="fewer minibatches and one round: a check that it runs (not saved)")
    b.add_argument("--no-save", action="store_true", help="print only; keep results/bench/ as it is")
    b.set_defaults(fn=_cmd_bench)
    pub = sub.add_parser("publish", help="push the built site to the gh-pages branch with ghp-import (refuses a smoke-profile site or a dirty tree)")
    pub.add_argument("--dry-run", action="store_true", help="run every check and print what would be pushed, push nothing")
    pub.add_argument("--site", help="the built site (default book/_build/html)")
    pub.add_argument("--remote", default="origin", help="the remote to push to (default origin)")
    pub.add_argument("--branch", default="gh-pages", help="the branch to write (default gh-pages)")
    pub.set_defaults(fn=_cmd_publish)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        asked = [args.profile] if args.command == "run" else args.profile if args.command == "check" else []
        for profile in asked:  # before any work: `check --profile huge` would print an empty table
            if profile not in PROFILES:
                raise ConfigError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
        return args.fn(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from ffrepro.data import DataError
        from ffrepro.results import ResultsError

        if isinstance(exc, DataError):
            print(f"data error: {exc}", file=sys.stderr)
            return 3
        if isinstance(exc, ResultsError):
            print(f"results error: {exc}", file=sys.stderr)
            return 4
        raise
