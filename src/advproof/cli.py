"""The ``advproof`` command line: ``verify``, ``pages``, ``run``.

Library code raises; this module turns exceptions into one clear line and an exit code
(STYLE §18). Exit codes: 0 ok, 1 a claim is failing, 2 bad usage or bad input.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import time
from collections.abc import Sequence

from advproof import ledger
from advproof.claims import CHECK_KINDS, RegistryError, load_registry
from advproof.experiments import MODES


def _cmd_verify(args: argparse.Namespace) -> int:
    registry = load_registry(plugins=args.plugin)
    kinds = tuple(args.kind) if args.kind else ledger.DEFAULT_KINDS
    report = ledger.verify(registry, only=args.only, kinds=kinds)
    if not report.claims:
        print(f"advproof verify: no claim matches --only {args.only!r}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_json(), indent=1))
    else:
        for result in report.claims:
            print(repr(ledger.Badge(result)))
        s = report.summary()
        print(f"{s['claims']} claims: {s['verified']} verified, {s['corrected']} corrected, "
              f"{s['refuted']} refuted, {s['not_reproduced']} not reproduced, {s['failing']} "
              f"failing, {s['not_checked']} not yet checked ({s['checks']} checks, "
              f"{s['seconds']:.1f} s)")
        other = sorted({c.kind for r in report.claims if r.status == "not yet checked"
                        for c in r.claim.checks} - set(kinds))
        if other:
            print(f"  (the claims not yet checked have only {', '.join(other)} checks: run them "
                  f"with {' '.join(f'--kind {k}' for k in other)})")
    return 0 if report.ok else 1


def _cmd_pages(args: argparse.Namespace) -> int:
    registry = load_registry(plugins=args.plugin)
    report = ledger.verify(registry, kinds=None)  # the ledger lists every kind of check
    from pathlib import Path

    from advproof import bench, blueprint, coverage

    paths = ledger.write_pages(report, args.out)
    paths += blueprint.write_pages(report, registry, args.notebooks, args.out)
    paths += coverage.write_pages(coverage.load_inventory(), report, args.out)
    performance = Path(args.out) / "performance.md"
    ledger.atomic_write_text(performance, bench.render_page(args.benchmarks))
    paths.append(performance)
    for path in paths:
        print(f"wrote {path}")
    failing = report.summary()["failing"]
    if failing:
        print(f"advproof pages: {failing} failing claim(s) are shown as FAIL", file=sys.stderr)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from advproof import experiments

    result = experiments.run(args.name, mode=args.mode, device=args.device, seed=args.seed,
                             data_dir=args.data, out_dir=args.out)
    print(json.dumps(result.summary(), indent=1))
    return 0


def _cmd_warm(args: argparse.Namespace) -> int:
    from advproof import cache

    start = time.perf_counter()
    for name, seconds in cache.warm(args.only or None, jobs=args.jobs):
        print(f"{name:<24} {seconds:7.1f} s", flush=True)
    print(f"warm: {time.perf_counter() - start:.1f} s in {args.jobs} process(es), cache in "
          f"{cache.cache_dir()}")
    return 0


def _cmd_coverage(args: argparse.Namespace) -> int:
    from advproof import coverage

    registry = load_registry()
    items = coverage.load_inventory()
    report = None if args.no_checks else ledger.verify(registry)
    out = coverage.to_json(items, report)
    problems = coverage.problems(items, registry)
    if args.json:
        print(json.dumps(out | {"problems": problems}, indent=1))
    else:
        for row in out["items"]:
            where = ", ".join(row["claims"]) or row["reason"]
            print(f"{row['source']} {row['item']:<16} {row['status'] or '':<16} {where}")
        for source, counts in out["summary"].items():
            print(f"{source}: {counts}")
        for problem in problems:
            print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from advproof import bench

    names = [n for n in bench.BENCHMARKS if fnmatch.fnmatchcase(n, args.only or "*")]
    if not names:
        raise ValueError(f"no benchmark matches {args.only!r}; known: {bench.BENCHMARKS}")
    for name in names:
        result = bench.run(name, device=args.device, smoke=args.smoke)
        path = bench.write(result, args.out)
        ratios = ", ".join(f"{k} = {v:.3g}" for k, v in result.get("ratios", {}).items())
        seconds = ", ".join(f"{k} = {v:.3g} s" for k, v in result.get("seconds", {}).items())
        print(f"{name} [{result['device']}]: {ratios or seconds} -> {path}")
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from advproof import experiments

    rows = experiments.staleness(args.mode, root=args.out, only=args.only)
    if args.list:
        for name, _status in rows:
            for seed in args.seeds:
                print(experiments.command(name, mode=args.mode, seed=seed, device=args.device,
                                          data_dir=args.data, out_dir=args.out))
        return 0
    todo = [name for name, status in rows if status != "fresh" or args.force]
    if args.launcher == "slurm":
        for job in experiments.submit_slurm(todo, mode=args.mode, device=args.device,
                                            seeds=args.seeds, data_dir=args.data,
                                            out_dir=args.out, folder=args.slurm_folder):
            print(f"submitted job {job.job_id}")
        return 0
    report = []
    for name, status in rows:
        if name not in todo:
            report.append((name, status, "-", "-"))
            continue
        start = time.perf_counter()
        for seed in args.seeds:
            experiments.run(name, mode=args.mode, device=args.device, seed=seed,
                            data_dir=args.data, out_dir=args.out)
        report.append((name, f"{status} -> done", f"{time.perf_counter() - start:.0f} s",
                       args.device))
    print(f"{'experiment':<24} {'status':<20} {'wall':>8}  device")
    for name, status, wall, device in report:
        print(f"{name:<24} {status:<20} {wall:>8}  {device}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the docs and the tests)."""
    parser = argparse.ArgumentParser(prog="advproof", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    verify = sub.add_parser("verify", help="run every symbolic/numeric check and its control")
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    verify.add_argument("--only", metavar="GLOB", help="claim ids matching GLOB, e.g. 'cheng.*'")
    verify.add_argument("--kind", action="append", choices=CHECK_KINDS,
                        help="check kinds to run (repeatable; default: symbolic, numeric, step)")
    verify.add_argument("--plugin", action="append", default=[], metavar="FILE",
                        help="also load the CLAIMS of this Python file (a throw-away claim set)")
    verify.set_defaults(func=_cmd_verify)

    pages = sub.add_parser("pages", help="write the generated ledger and errata pages")
    pages.add_argument("--out", default="book/_generated", help="output folder")
    pages.add_argument("--plugin", action="append", default=[], metavar="FILE")
    pages.add_argument("--notebooks", default="notebooks", help="folder of the chapters")
    pages.add_argument("--benchmarks", default="benchmarks/results",
                       help="folder of the stored benchmark results")
    pages.set_defaults(func=_cmd_pages)

    run = sub.add_parser("run", help="run one experiment and write its artifact")
    run.add_argument("name", help="experiment name, e.g. cheng_setting")
    run.add_argument("--mode", choices=MODES, default="quick",
                     help="quick: CPU minutes; full: paper scale; smoke: the runner's own tests; "
                          "cifar10: the paper's data and model from --data (some experiments)")
    run.add_argument("--device", default="cpu", help="cpu or cuda")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--data", default=None, metavar="DIR", help="folder with local data files")
    run.add_argument("--out", default="artifacts", metavar="DIR", help="artifact root folder")
    run.set_defaults(func=_cmd_run)

    rep = sub.add_parser("reproduce", help="run every experiment whose artifact is missing or "
                                           "stale, or list one command per experiment and seed")
    rep.add_argument("--mode", choices=MODES, default="full")
    rep.add_argument("--only", metavar="GLOB", help="experiment names matching GLOB")
    rep.add_argument("--list", action="store_true",
                     help="print one independent `advproof run` command per experiment and seed")
    rep.add_argument("--force", action="store_true", help="rerun fresh artifacts too")
    rep.add_argument("--device", default="cpu")
    rep.add_argument("--seeds", type=int, nargs="+", default=[0])
    rep.add_argument("--data", default=None, metavar="DIR")
    rep.add_argument("--out", default="artifacts", metavar="DIR")
    rep.add_argument("--launcher", choices=("local", "slurm"), default="local",
                     help="slurm: submit each run through submitit (pip install submitit)")
    rep.add_argument("--slurm-folder", default="slurm_logs", metavar="DIR")
    rep.set_defaults(func=_cmd_reproduce)

    warm = sub.add_parser("warm", help="compute the quick-mode experiment runs into the cache, "
                                       "in parallel")
    warm.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    warm.add_argument("--only", nargs="*", metavar="NAME", help="these experiments only")
    warm.set_defaults(func=_cmd_warm)

    cov = sub.add_parser("coverage", help="every numbered item of every source and its status")
    cov.add_argument("--json", action="store_true")
    cov.add_argument("--no-checks", action="store_true",
                     help="list the inventory without running the claims' checks (no statuses)")
    cov.set_defaults(func=_cmd_coverage)

    bench = sub.add_parser("bench", help="side-by-side benchmarks (ratios in one run)")
    bench.add_argument("--only", metavar="GLOB")
    bench.add_argument("--device", default="cpu")
    bench.add_argument("--smoke", action="store_true", help="tiny sizes: the code path only")
    bench.add_argument("--out", default="benchmarks/results", metavar="DIR")
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``advproof`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (RegistryError, FileNotFoundError, ValueError, KeyError) as err:
        print(f"advproof {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
