"""The stage driver: train one stage transformer on the run's token cache (DeepSpeed, resumable)."""
from __future__ import annotations

from typing import Any, Sequence

from ..errors import UserError
from ..resume_rule import decide_resume
from ..run_dir import RunDir


def train_run_stage(rd: RunDir, stage: str, overrides: list[str], resume: bool, restart: bool,
                    max_minutes: float | None, max_steps: int | None, snapshots: Sequence[int] = ()) -> Any:
    """Train `stage` on the cache's train records (valid records for the validation loss); returns the trainer's
    TrainResult, with runs/R/stages/<stage>/model.pt exported when it stops and snapshots/step-<N>.pt at `snapshots`."""
    from data_prep.cache import TokenCache
    from stages.trainer import checkpoint_tags, train_stage

    ckpt_dir = rd.stage_dir(stage) / "checkpoints"
    resumed = decide_resume(resume, restart, bool(checkpoint_tags(ckpt_dir)), ckpt_dir)
    profile = rd.load_profile(overrides)
    cache = TokenCache(rd.cache_dir)
    records = cache.records("train")
    if not records:
        raise UserError(f"the token cache {rd.cache_dir} has no split=='train' records: check the manifest splits")
    return train_stage(stage, records, cache.meta, getattr(profile.stages, stage), profile.train, rd.stage_dir(stage),
                       valid_records=cache.records("valid"), resume=resumed, restart=not resumed,
                       max_minutes=max_minutes, max_steps=max_steps, snapshot_steps=snapshots)
