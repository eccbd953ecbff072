"""The stage driver: train one stage transformer on the run's token cache (DeepSpeed, resumable)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..errors import UserError
from ..resume_rule import decide_resume
from ..run_dir import RunDir
from .records import balanced


def train_run_stage(rd: RunDir, stage: str, overrides: list[str], resume: bool, restart: bool,
                    max_minutes: float | None, max_steps: int | None, snapshots: Sequence[int] = (),
                    init_from: str | None = None) -> Any:
    """Train `stage` on the cache's train records (valid records for the validation loss); returns the trainer's
    TrainResult, with runs/R/stages/<stage>/model.pt exported when it stops and snapshots/step-<N>.pt at `snapshots`;
    `init_from` warm-starts a fresh run from an exported model.pt. With stages.<stage>.balance set, every value of
    that manifest attribute is drawn equally often."""
    from data_prep.cache import TokenCache
    from stages.trainer import checkpoint_tags, train_stage

    ckpt_dir = rd.stage_dir(stage) / "checkpoints"
    resumed = decide_resume(resume, restart, bool(checkpoint_tags(ckpt_dir)), ckpt_dir)
    if init_from is not None and not Path(init_from).is_file():
        raise UserError(f"--init-from: no such file: {init_from}")
    profile = rd.load_profile(overrides)
    cache = TokenCache(rd.cache_dir)
    records = cache.records("train")
    if not records:
        raise UserError(f"the token cache {rd.cache_dir} has no split=='train' records: check the manifest splits")
    stage_cfg = getattr(profile.stages, stage)
    if stage_cfg.balance:
        records = balanced(records, rd.manifest_path, stage_cfg.balance)
    return train_stage(stage, records, cache.meta, stage_cfg, profile.train, rd.stage_dir(stage),
                       valid_records=cache.records("valid"), resume=resumed, restart=not resumed,
                       max_minutes=max_minutes, max_steps=max_steps, snapshot_steps=snapshots, init_from=init_from)
