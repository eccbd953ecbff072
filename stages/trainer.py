"""DeepSpeed training of one stage: resumable checkpoints, validation, monitor logs, non-finite guard, fp32 export.

Runs as one process (CPU or one GPU) or under `deepspeed --num_gpus N` / `torchrun --nproc_per_node N`.
Every batch is drawn from a generator seeded by (seed, rank, step, micro-batch, attempt), and dropout is
reseeded the same way, so `resume=True` continues exactly from the last checkpoint without saving RNG state.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from .batches import eval_batches, lm_loss, sample_batch, to_device
from .config import StageConfig, TrainConfig
from .deepspeed_config import build_engine, init_distributed
from .errors import StageError
from .layouts import Layout, make_layout
from .stage import Stage
from .transformer import Transformer

log = logging.getLogger("stages.trainer")
TAG_PREFIX = "step"
STAGING_DIR = ".staging"


@dataclass
class TrainResult:
    """What a (possibly partial) training call achieved."""

    stage: str
    step: int
    total_steps: int
    finished: bool
    train_loss: float | None
    val_loss: float | None
    tokens_per_s: float
    nonfinite_skipped: int
    model_path: str | None


def train_stage(stage: str, records: list[dict[str, Any]], meta: dict[str, Any], stage_cfg: StageConfig,
                train_cfg: TrainConfig, out_dir: str | Path, *, valid_records: list[dict[str, Any]] | None = None,
                resume: bool = False, restart: bool = False, max_minutes: float | None = None,
                max_steps: int | None = None) -> TrainResult:
    """Train `stage` on token records into out_dir (checkpoints/, logs/, model.pt); returns a TrainResult.

    resume continues from the last checkpoint, restart deletes the checkpoints first (existing checkpoints with
    neither is an error). max_steps stops early (resumable) like max_minutes; the LR schedule spans stage_cfg.steps.
    """
    if not records:
        raise StageError(f"no training records for the {stage} stage: run `strata tokenize` first")
    import deepspeed
    import torch.distributed as dist

    rank, world = init_distributed()
    out_dir = Path(out_dir)
    ckpt_dir = out_dir / "checkpoints"
    if restart and rank == 0:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    dist.barrier()
    layout = make_layout(stage, meta, stage_cfg.crop_seconds, stage_cfg.layout, stage_cfg.melody)
    engine = _engine(deepspeed, layout, stage_cfg, train_cfg, world, out_dir / "logs", stage)
    step, resumed = _maybe_resume(engine, ckpt_dir, resume, stage)
    device = engine.device
    total = stage_cfg.steps
    stop_at = total if max_steps is None else min(total, max_steps)
    drop = stage_cfg.cond_drop_prob if layout.uses_cond else 0.0
    text_prob = stage_cfg.text_cond_prob if layout.uses_cond else 0.0
    if text_prob > 0 and rank == 0 and not any(r.get("cond_text") is not None for r in records):
        log.warning("%s: text_cond_prob=%.2f but the cache holds no caption tokens (cache.caption_variants=0 or no "
                    "captions): training on audio tokens only", stage, text_prob)
    valid = (valid_records or [])[: train_cfg.val_max_records]
    started = time.monotonic()
    window_tokens, window_start = 0, time.perf_counter()
    run_tokens, run_time = 0, 0.0
    in_a_row, skipped = 0, 0
    # A resumed run that has no step left still reports the losses its checkpoint was saved with.
    train_loss: float | None = resumed.get("train_loss")
    val_loss: float | None = resumed.get("val_loss")
    last_saved = step
    engine.train()
    while step < stop_at:
        if _should_stop(started, max_minutes, device):
            break
        losses = []
        for micro in range(train_cfg.grad_accum):
            attempt = 0
            while True:
                seed = _seed(train_cfg.seed, rank, step, micro, attempt)
                gen = torch.Generator().manual_seed(seed)
                torch.manual_seed(seed + 1)
                tokens, mask = sample_batch(layout, records, stage_cfg.batch_size, gen, drop, text_prob,
                                            stage_cfg.melody_drop_prob)
                loss = lm_loss(engine, to_device(tokens, device), mask, layout)
                mean, finite = _reduce_loss(loss, world, device)
                if finite:
                    in_a_row = 0
                    break
                in_a_row, skipped, attempt = in_a_row + 1, skipped + 1, attempt + 1
                if rank == 0:
                    log.warning("%s step %d: non-finite loss, batch skipped (%d in a row)", stage, step, in_a_row)
                    engine.monitor.write_events([("Train/nonfinite_skipped", skipped, step)])
                if in_a_row >= train_cfg.max_nonfinite:
                    raise StageError(
                        f"{stage} training diverged: {in_a_row} non-finite losses in a row at step {step}; "
                        "lower train.lr, raise train.warmup_steps or use train.grad_clip, then --resume")
            engine.backward(loss)
            engine.step()
            losses.append(mean)
            window_tokens += int(mask[:, 1:].sum()) * world
        step += 1
        train_loss = sum(losses) / len(losses)
        if step % train_cfg.log_every == 0 or step == stop_at:
            elapsed = time.perf_counter() - window_start
            rate = window_tokens / max(elapsed, 1e-9)
            run_tokens, run_time = run_tokens + window_tokens, run_time + elapsed
            window_tokens, window_start = 0, time.perf_counter()
            lr = engine.get_lr()[0]
            if rank == 0:
                log.info("%s step %d/%d loss %.4f lr %.2e %.0f target tok/s", stage, step, total, train_loss, lr, rate)
                engine.monitor.write_events([("Train/loss", train_loss, step), ("Train/lr", lr, step),
                                             ("Train/target_tokens_per_s", rate, step)])
        if valid and (step % train_cfg.val_every == 0 or step == total):
            val_loss = validate(engine, layout, valid, stage_cfg.batch_size, rank, world, device)
            if rank == 0:
                log.info("%s step %d validation loss %.4f", stage, step, val_loss)
                engine.monitor.write_events([("Val/loss", val_loss, step)])
        if step % train_cfg.ckpt_every == 0 or step == total:
            save_checkpoint(engine, ckpt_dir, step, train_cfg.keep_last, rank, train_loss, val_loss)
            last_saved = step
    if step != last_saved:
        save_checkpoint(engine, ckpt_dir, step, train_cfg.keep_last, rank, train_loss, val_loss)
    finished = step >= total
    model_path = str(out_dir / "model.pt")  # also on a time-limit stop, so a budgeted run always leaves a usable model
    export(engine, layout, train_cfg, ckpt_dir, step, model_path, rank,
           {"step": step, "total_steps": total, "finished": finished, "val_loss": val_loss, "train_loss": train_loss,
            "records": len(records), "train": asdict(train_cfg), "stage_config": asdict(stage_cfg)})
    dist.barrier()
    return TrainResult(stage, step, total, finished, train_loss, val_loss,
                       run_tokens / run_time if run_time else 0.0, skipped, model_path)


def validate(engine: Any, layout: Layout, records: list[dict[str, Any]], batch_size: int, rank: int, world: int,
             device: torch.device) -> float:
    """Mean target-token loss over the validation records, sharded across ranks (crops at 0, no dropping)."""
    import torch.distributed as dist

    engine.eval()
    totals = torch.zeros(2, dtype=torch.float64)
    with torch.no_grad():
        for tokens, mask in eval_batches(layout, records[rank::world], batch_size):
            totals[0] += float(lm_loss(engine, to_device(tokens, device), mask, layout, reduction="sum"))
            totals[1] += int(mask[:, 1:].sum())
    engine.train()
    totals = totals.to(device)
    dist.all_reduce(totals)
    return float(totals[0] / totals[1].clamp(min=1))


def save_checkpoint(engine: Any, ckpt_dir: Path, step: int, keep_last: int, rank: int,
                    train_loss: float | None = None, val_loss: float | None = None) -> None:
    """DeepSpeed checkpoint tagged step<N> (all ranks), then rank 0 deletes all but the last keep_last.

    Every rank writes into ckpt_dir/.staging and rank 0 renames the finished tag folder into place, so a process
    killed mid-save leaves no partial checkpoint for --resume to load (the next save clears the staging folder).
    """
    import torch.distributed as dist

    tag = f"{TAG_PREFIX}{step:08d}"
    staging = ckpt_dir / STAGING_DIR
    if rank == 0:
        shutil.rmtree(staging, ignore_errors=True)
    dist.barrier()
    engine.save_checkpoint(str(staging), tag=tag,
                           client_state={"step": step, "train_loss": train_loss, "val_loss": val_loss})
    dist.barrier()
    if rank == 0:
        if not (ckpt_dir / tag).exists():
            os.replace(staging / tag, ckpt_dir / tag)
        shutil.rmtree(staging, ignore_errors=True)
        for old in checkpoint_tags(ckpt_dir)[: -max(1, keep_last)]:
            shutil.rmtree(ckpt_dir / old, ignore_errors=True)
    dist.barrier()


def checkpoint_tags(ckpt_dir: Path) -> list[str]:
    """Checkpoint tags in ckpt_dir, oldest first."""
    if not ckpt_dir.is_dir():
        return []
    return sorted(p.name for p in ckpt_dir.iterdir() if p.is_dir() and p.name.startswith(TAG_PREFIX))


def export(engine: Any, layout: Layout, train_cfg: TrainConfig, ckpt_dir: Path, step: int, path: str, rank: int,
           info: dict[str, Any]) -> None:
    """Write the plain fp32 model.pt (rank 0).

    bf16 with ZeRO 1-3 exports the fp32 master weights rebuilt from the final checkpoint; otherwise the module's
    weights (gathered first under ZeRO-3) are cast to fp32.
    """
    import deepspeed

    module = engine.module
    if train_cfg.precision == "bf16" and train_cfg.zero_stage in (1, 2, 3):
        if rank == 0:
            from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

            state = get_fp32_state_dict_from_zero_checkpoint(str(ckpt_dir), tag=f"{TAG_PREFIX}{step:08d}")
            if module.cfg.tie_weights:
                state.setdefault("head.weight", state["embed.weight"])
            _write_export(module.cfg, layout, state, path, info)
        return
    if train_cfg.zero_stage == 3:
        with deepspeed.zero.GatheredParameters(list(module.parameters()), modifier_rank=None):
            state = {k: v.detach().float().cpu().clone() for k, v in module.state_dict().items()}
    else:
        state = {k: v.detach().float().cpu().clone() for k, v in module.state_dict().items()}
    if rank == 0:
        _write_export(module.cfg, layout, state, path, info)


def _write_export(cfg: Any, layout: Layout, state: dict[str, torch.Tensor], path: str, info: dict[str, Any]) -> None:
    model = Transformer(cfg, layout.vocab.size, streams=layout.streams)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    Stage(model, layout, info).save(path)


def _engine(deepspeed: Any, layout: Layout, stage_cfg: StageConfig, train_cfg: TrainConfig, world: int,
            log_dir: Path, stage: str) -> Any:
    torch.manual_seed(train_cfg.seed)
    model = Transformer(stage_cfg.model, layout.vocab.size, streams=layout.streams)
    return build_engine(model, train_cfg, stage_cfg.batch_size, world, stage_cfg.steps, log_dir, stage)


def _maybe_resume(engine: Any, ckpt_dir: Path, resume: bool, stage: str) -> tuple[int, dict[str, Any]]:
    """(step, client state) of the latest checkpoint, or (0, {}) when there is none."""
    if not checkpoint_tags(ckpt_dir):
        return 0, {}
    if not resume:
        raise StageError(f"{ckpt_dir} already holds {stage} checkpoints: pass --resume to continue, "
                         "or --restart to start over")
    path, client = engine.load_checkpoint(str(ckpt_dir), tag=checkpoint_tags(ckpt_dir)[-1])
    if path is None:
        raise StageError(f"could not load the latest checkpoint in {ckpt_dir}; remove it to fall back to an older one")
    step = int(client["step"])
    log.info("%s: resumed from %s at step %d", stage, path, step)
    return step, dict(client)


def _seed(seed: int, rank: int, step: int, micro: int, attempt: int) -> int:
    return ((((seed * 1_000_003 + rank) * 1_000_003 + step) * 1009 + micro) * 101 + attempt) & 0x7FFF_FFFF_FFFF


def _reduce_loss(loss: torch.Tensor, world: int, device: torch.device) -> tuple[float, bool]:
    """Mean loss over ranks and whether every rank's loss is finite (one all-reduce)."""
    import torch.distributed as dist

    value = float(loss.detach())
    finite = bool(torch.isfinite(torch.tensor(value)))
    t = torch.tensor([value if finite else 0.0, 0.0 if finite else 1.0], dtype=torch.float64, device=device)
    if world > 1:
        dist.all_reduce(t)
    return float(t[0]) / world, bool(t[1] == 0)


def _should_stop(started: float, max_minutes: float | None, device: torch.device) -> bool:
    """Time budget spent on any rank: every rank agrees (one all-reduce)."""
    import torch.distributed as dist

    if max_minutes is None:
        return False
    over = torch.tensor([1.0 if time.monotonic() - started > max_minutes * 60 else 0.0], device=device)
    if dist.get_world_size() > 1:
        dist.all_reduce(over, op=dist.ReduceOp.MAX)
    return bool(over.item())
