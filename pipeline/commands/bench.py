"""`strata bench`: run registered benchmarks and write bench.json."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..bench.registry import BENCHMARKS, run_benchmarks
from ..errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run benchmarks and write one JSON of figures", description=__doc__)
    p.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}")
    p.add_argument("--out", default="bench.json", help="where to write the JSON (default: bench.json)")
    p.add_argument("--quick", action="store_true", help="smaller problem sizes, for a smoke run")
    p.add_argument("--list", action="store_true", help="list benchmark names and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list:
        print("\n".join(BENCHMARKS))
        return 0
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        raise UserError(f"unknown benchmark '{unknown[0]}' (available: {', '.join(BENCHMARKS)})")
    report = run_benchmarks(args.names or list(BENCHMARKS), Path(args.out), quick=args.quick)
    for name, entry in report["benchmarks"].items():
        print(f"{name}: {json.dumps(entry['figures'])}")
    print(f"wrote {args.out}")
    return 0
