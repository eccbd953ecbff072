"""`strata train clap`: the small CLAP (contrastive, on the run's train split) and the conditioning RVQ."""
from __future__ import annotations

import argparse

from ..drivers.clap import train_clap
from .common import add_resume_arguments, add_run_argument, resume_flags, run_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata train clap`."""
    add_run_argument(parser)
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget for the training loop")
    add_resume_arguments(parser, "runs/R/tokenizers/clap_train/")
    parser.add_argument("--rvq-only", action="store_true", help="keep the trained clap.pt and only refit the RVQ")
    parser.add_argument("--text-only", action="store_true",
                        help="fine-tune the trained clap.pt's text tower against its frozen audio tower; rvq.pt and "
                             "every cached audio token stay valid (then `strata tokenize --text-only` re-derives the text tokens)")


def run(args: argparse.Namespace) -> int:
    """Train (or refit the RVQ, or fine-tune the text tower) and print what was written."""
    summary = train_clap(run_dir(args), args.overrides, *resume_flags(args), args.max_minutes, args.rvq_only,
                        args.text_only)
    print(f"wrote {summary['wrote']} "
          f"(steps {summary.get('steps', '-')}, RVQ relative MSE {summary['rvq']['relative_mse']:.4f}, "
          f"{summary['wall_seconds']:.0f} s)")
    return 0
