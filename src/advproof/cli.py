"""The ``advproof`` command line: ``verify``, ``pages``, ``run``.

Library code raises; this module turns exceptions into one clear line and an exit code
(STYLE §18). Exit codes: 0 ok, 1 a claim is failing, 2 bad usage or bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from advproof import ledger
from advproof.claims import CHECK_KINDS, RegistryError, load_registry


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
              f"{s['refuted']} refuted, {s['failing']} failing, {s['not_checked']} not yet "
              f"checked ({s['checks']} checks, {s['seconds']:.1f} s)")
    return 0 if report.ok else 1


def _cmd_pages(args: argparse.Namespace) -> int:
    registry = load_registry(plugins=args.plugin)
    report = ledger.verify(registry, kinds=None)  # the ledger lists every kind of check
    from advproof import blueprint

    paths = ledger.write_pages(report, args.out)
    paths += blueprint.write_pages(report, registry, args.notebooks, args.out)
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
    pages.set_defaults(func=_cmd_pages)

    run = sub.add_parser("run", help="run one experiment and write its artifact")
    run.add_argument("name", help="experiment name, e.g. cheng_setting")
    run.add_argument("--mode", choices=("quick", "full"), default="quick")
    run.add_argument("--device", default="cpu", help="cpu or cuda")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--data", default=None, metavar="DIR", help="folder with local data files")
    run.add_argument("--out", default="artifacts", metavar="DIR", help="artifact root folder")
    run.set_defaults(func=_cmd_run)
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
