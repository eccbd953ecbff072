"""`strata eval melody`: cross-instrument melody retrieval (R@1 among N), learned embedding vs chroma argmax."""
from __future__ import annotations

import argparse

from ..drivers.melody import EVAL_SPLITS, eval_melody
from .common import add_run_argument, run_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata eval melody`."""
    add_run_argument(parser)
    parser.add_argument("--split", default="heldout", choices=list(EVAL_SPLITS),
                        help="which same-melody groups to query (default: valid + test)")
    parser.add_argument("--distractors", type=int, default=100,
                        help="add up to this many unpaired clips of the split as extra candidates (default 100)")


def run(args: argparse.Namespace) -> int:
    """Evaluate and write runs/R/reports/melody/retrieval.{json,md}."""
    _, markdown, out = eval_melody(run_dir(args), args.overrides, args.split, args.distractors)
    print(markdown, end="")
    print(f"wrote {out / 'retrieval.json'} and {out / 'retrieval.md'}")
    return 0

