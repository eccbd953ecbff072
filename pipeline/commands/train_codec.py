"""`strata train codec --run R`: train the small EnCodec-architecture codec on the run's training audio."""
from __future__ import annotations

import argparse

from ..drivers.codec import train_codec
from .common import add_resume_arguments, add_run_argument, command_line, resume_flags, run_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata train codec`."""
    add_run_argument(parser)
    parser.add_argument("--steps", type=int, default=None, help="total steps (default: codec.train.steps)")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (checkpointed) after this much wall time")
    add_resume_arguments(parser, "runs/R/tokenizers/codec_train/")


def run(args: argparse.Namespace) -> int:
    """Train (or resume) and write runs/R/tokenizers/codec.pt plus a model card with its checksum."""
    result = train_codec(run_dir(args), args.overrides, *resume_flags(args), args.steps, args.max_minutes, command_line(),
                         say=lambda line: print(line, flush=True))
    print(f"wrote {result.path} (step {result.step}); training state in {result.work_dir}")
    return 0
