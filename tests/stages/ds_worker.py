"""A tiny DeepSpeed stage run on synthetic records, launched by the trainer tests (one process or torchrun ranks).

Usage: python -m tests.stages.ds_worker OUT_DIR STEPS [--resume] [--crash-at N] [--zero Z] [--bf16]
--crash-at N SIGKILLs rank 0 right after step N was logged and validated (a hard kill between checkpoints).
"""
from __future__ import annotations

import argparse
import json
import os
import signal

from stages import trainer
from stages.config import StageConfig, TrainConfig

from .synthetic import tiny_model_config, tiny_records, tiny_spec


def main() -> None:
    """Train the coarse stage for STEPS steps (checkpoints every 2, validation every step)."""
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("steps", type=int)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--crash-at", type=int, default=0)
    p.add_argument("--zero", type=int, default=0)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--local_rank", type=int, default=0)
    args = p.parse_args()
    token_spec = tiny_spec()
    stage_cfg = StageConfig(model=tiny_model_config(dropout=0.1), crop_seconds=0.2, steps=args.steps, batch_size=4)
    train_cfg = TrainConfig(lr=3e-3, warmup_steps=2, ckpt_every=2, keep_last=2, val_every=1, log_every=1,
                            zero_stage=args.zero, precision="bf16" if args.bf16 else "fp32")
    if args.crash_at:
        validate, calls = trainer.validate, []

        def validate_then_crash(engine, layout, records, batch_size, rank, world, device):
            value = validate(engine, layout, records, batch_size, rank, world, device)
            calls.append(value)
            if len(calls) == args.crash_at and rank == 0:
                os.kill(os.getpid(), signal.SIGKILL)
            return value

        trainer.validate = validate_then_crash
    result = trainer.train_stage("coarse", tiny_records(8, 1.0, token_spec), token_spec, stage_cfg, train_cfg, args.out_dir,
                                 valid_records=tiny_records(3, 1.0, token_spec, seed=1, split="valid"), resume=args.resume)
    if int(os.environ.get("RANK", "0")) == 0:
        print("RESULT " + json.dumps(result.__dict__))


if __name__ == "__main__":
    main()
