"""`strata eval semantic --run R`: NMI of semantic tokens with pitch class and instrument family, SSL vs log-mel."""
from __future__ import annotations

import argparse

from ..drivers.semantic import eval_semantic
from .common import add_run_argument, run_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata eval semantic`."""
    add_run_argument(parser)
    parser.add_argument("--train-clips", type=int, default=150, help="train clips sampled to fit statistics + k-means per source")
    parser.add_argument("--eval-clips", type=int, default=120, help="held-out (valid/test) clips scored")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clip sample")


def run(args: argparse.Namespace) -> int:
    """Fit each available source on the same train clips, score the held-out clips, write reports/semantic/."""
    rd = run_dir(args)
    _, markdown = eval_semantic(rd, args.overrides, args.train_clips, args.eval_clips, args.seed)
    out = rd.reports_dir / "semantic"
    print(markdown)
    print(f"wrote {out / 'nmi.json'} and {out / 'nmi.md'}")
    return 0
