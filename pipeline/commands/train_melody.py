"""`strata train melody`: the learned melody embedding (semi-hard triplets on same-melody sets) and its RVQ."""
from __future__ import annotations

import argparse

from ..drivers.melody import train_melody
from .common import add_resume_arguments, add_run_argument, resume_flags, run_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata train melody`."""
    add_run_argument(parser)
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget for the training loop")
    add_resume_arguments(parser, "runs/R/tokenizers/melody_train/")
    parser.add_argument("--rvq-only", action="store_true", help="keep the trained embedding and only refit its RVQ")


def run(args: argparse.Namespace) -> int:
    """Train (or refit the RVQ) and print what was written."""
    result = train_melody(run_dir(args), args.overrides, *resume_flags(args), args.max_minutes, args.rvq_only)
    if result.refit_windows is not None:
        print(f"wrote {result.path} (RVQ {result.rvq_levels}x{result.rvq_bins} refitted on {result.refit_windows} windows)")
        return 0
    print(f"wrote {result.path} (steps {result.steps}, triplet loss {result.final_loss:.4f}, "
          f"{result.groups} melody groups, RVQ {result.rvq_levels}x{result.rvq_bins}, {result.wall_seconds:.0f} s)")
    if result.profile_kind != "learned":
        print(f"note: this run's melody.kind is '{result.profile_kind}'; stages use learned melody tokens only with melody.kind=learned")
    return 0
