"""`strata eval clap`: zero-shot attribute accuracy and text-audio agreement on held-out clips, before/after RVQ."""
from __future__ import annotations

import argparse

from ..drivers.clap import eval_clap
from .common import add_run_argument, run_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata eval clap`."""
    add_run_argument(parser)
    parser.add_argument("--max-clips", type=int, default=0, help="evaluate at most this many held-out clips (0 = all)")


def run(args: argparse.Namespace) -> int:
    """Evaluate and write runs/R/reports/clap/zero_shot.{json,md}."""
    _, markdown, out = eval_clap(run_dir(args), args.max_clips)
    print(markdown, end="")
    print(f"wrote {out / 'zero_shot.json'} and {out / 'zero_shot.md'}")
    return 0
