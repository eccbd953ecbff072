"""`strata export`: package a trained run as shipped weights (fp16, audit examples, checksums.json)."""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import run_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="package a trained run's inference weights (fp16 + checksums)", description=__doc__)
    p.add_argument("--run", required=True, help="the trained run to export")
    p.add_argument("--to", required=True, help="destination folder (a run folder, e.g. pipeline/embedded/tiny)")
    p.add_argument("--audit-examples", type=int, default=32, help="training token records kept for the audit (default 32)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..export import export_run

    sizes = export_run(run_dir(args), Path(args.to), args.audit_examples)
    for name, size in sizes.items():
        print(f"{size / 1e6:8.2f} MB  {name}")
    print(f"{sum(sizes.values()) / 1e6:8.2f} MB  total -> {args.to}")
    return 0
