"""`strata train stage --stage semantic|coarse|fine --run R`: train one stage transformer with DeepSpeed.

One process: `strata train stage --stage coarse --run R`. Several ranks on one machine (CPU ranks use gloo):
`deepspeed --no_local_rank --num_gpus 2 $(which strata) train stage --stage coarse --run R` or
`torchrun --nproc_per_node 2 $(which strata) train stage --stage coarse --run R`.
Several machines: `deepspeed --no_local_rank --hostfile hosts.txt --master_addr HOST0 $(which strata) train stage ...`
with one `hostname slots=N` line per machine and the run folder on a shared filesystem.
"""
from __future__ import annotations

import argparse
import os

from ..drivers.stage import train_run_stage
from ..run_dir import STAGE_NAMES
from .common import add_resume_arguments, add_run_argument, resume_flags, run_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata train stage`."""
    parser.add_argument("--stage", required=True, choices=STAGE_NAMES, help="which stage transformer to train")
    add_run_argument(parser)
    add_resume_arguments(parser, "runs/R/stages/<stage>/checkpoints/")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (checkpointed, resumable) after this long")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="stop (checkpointed, resumable) at this step; the LR schedule still spans stages.<stage>.steps")
    parser.add_argument("--snapshots", type=_steps, default=(), metavar="N,N,...",
                        help="also export the model at these steps to stages/<stage>/snapshots/step-N.pt "
                             "(the points of `strata eval --curve <stage>`)")
    parser.add_argument("--init-from", default=None, metavar="MODEL_PT",
                        help="warm start: a fresh run begins from this exported model.pt (same model and layout, or "
                             "fewer layers, grown to this depth without changing its output), with a new optimizer "
                             "and LR schedule; ignored when resuming")


def run(args: argparse.Namespace) -> int:
    """Read the run's token cache, train the stage, export runs/R/stages/<stage>/model.pt when finished."""
    result = train_run_stage(run_dir(args), args.stage, args.overrides, *resume_flags(args), args.max_minutes,
                             args.max_steps, args.snapshots, args.init_from)
    if int(os.environ.get("RANK", "0")) == 0:
        losses = ", ".join(f"{k} loss {v:.4f}" for k, v in (("train", result.train_loss), ("valid", result.val_loss))
                           if v is not None)
        if result.finished:
            print(f"{args.stage}: finished {result.step} steps ({losses}); model at {result.model_path}")
        else:
            print(f"{args.stage}: stopped at step {result.step}/{result.total_steps} ({losses}); model at "
                  f"{result.model_path}; continue with `strata train stage --stage {args.stage} --run {args.run} --resume`")
    return 0


def _steps(text: str) -> tuple[int, ...]:
    """'375,750,1500' -> (375, 750, 1500); argparse turns the ValueError into a one-line usage error."""
    steps = tuple(int(part) for part in text.split(",") if part.strip())
    if not steps or min(steps) < 1:
        raise ValueError(text)
    return steps
