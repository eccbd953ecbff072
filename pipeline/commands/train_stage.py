"""`strata train stage --stage semantic|coarse|fine --run R`: train one stage transformer with DeepSpeed.

One process: `strata train stage --stage coarse --run R`. Several ranks on one machine (CPU ranks use gloo):
`deepspeed --no_local_rank --num_gpus 2 $(which strata) train stage --stage coarse --run R` or
`torchrun --nproc_per_node 2 $(which strata) train stage --stage coarse --run R`.
Several machines: `deepspeed --no_local_rank --hostfile hosts.txt --master_addr HOST0 $(which strata) train stage ...`
with one `hostname slots=N` line per machine and the run folder on a shared filesystem.
"""
from __future__ import annotations

import argparse

from ..errors import UserError
from ..run_dir import STAGE_NAMES
from .common import add_resume_arguments, add_run_argument, resume_decision, run_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata train stage`."""
    parser.add_argument("--stage", required=True, choices=STAGE_NAMES, help="which stage transformer to train")
    add_run_argument(parser)
    add_resume_arguments(parser, "runs/R/stages/<stage>/checkpoints/")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (checkpointed, resumable) after this long")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="stop (checkpointed, resumable) at this step; the LR schedule still spans stages.<stage>.steps")


def run(args: argparse.Namespace) -> int:
    """Read the run's token cache, train the stage, export runs/R/stages/<stage>/model.pt when finished."""
    import os

    from data_prep.cache import TokenCache
    from stages.trainer import checkpoint_tags, train_stage

    rd = run_dir(args)
    ckpt_dir = rd.stage_dir(args.stage) / "checkpoints"
    resume = resume_decision(args, bool(checkpoint_tags(ckpt_dir)), ckpt_dir)
    profile = rd.load_profile(args.overrides)
    cache = TokenCache(rd.cache_dir)
    records = cache.records("train")
    if not records:
        raise UserError(f"the token cache {rd.cache_dir} has no split=='train' records: check the manifest splits")
    result = train_stage(args.stage, records, cache.meta, getattr(profile.stages, args.stage), profile.train,
                         rd.stage_dir(args.stage), valid_records=cache.records("valid"), resume=resume,
                         restart=not resume, max_minutes=args.max_minutes, max_steps=args.max_steps)
    rank = int(os.environ.get("RANK", "0"))
    if rank == 0:
        losses = ", ".join(f"{k} loss {v:.4f}" for k, v in (("train", result.train_loss), ("valid", result.val_loss))
                           if v is not None)
        if result.finished:
            print(f"{args.stage}: finished {result.step} steps ({losses}); model at {result.model_path}")
        else:
            print(f"{args.stage}: stopped at step {result.step}/{result.total_steps} ({losses}); model at "
                  f"{result.model_path}; continue with `strata train stage --stage {args.stage} --run {args.run} --resume`")
    return 0
