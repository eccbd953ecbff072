"""`strata train semantic-ssl --run R`: pretrain the small fairseq2 wav2vec 2.0 on the run's training audio (resumable)."""
from __future__ import annotations

import argparse

from ..drivers.semantic import train_semantic_ssl
from .common import add_resume_arguments, add_run_argument, command_line, resume_flags, run_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata train semantic-ssl`."""
    add_run_argument(parser)
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (checkpointed) after this much wall time")
    add_resume_arguments(parser, "runs/R/tokenizers/semantic_train/")


def run(args: argparse.Namespace) -> int:
    """Train (or resume) and, once all steps are done, write runs/R/tokenizers/semantic.pt."""
    result = train_semantic_ssl(run_dir(args), args.overrides, *resume_flags(args), args.max_minutes, command_line())
    if result.finished:
        print(f"wrote {result.path} (step {result.step}, loss {result.loss:.3f}); now run `strata train kmeans --run {args.run}`")
    else:
        print(f"stopped at step {result.step}/{result.total_steps} (time budget); wrote {result.path} from the current "
              "weights; re-run to resume")
    return 0
