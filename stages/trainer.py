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
from typing import Any, Mapping, Sequence

import torch

from training.budget import Budget
from training.solver import Solver

from .batches import lm_loss, record_weights, sample_batch, target_loss_sums, to_device
from .config import StageConfig, TrainConfig
from .deepspeed_config import build_engine, init_distributed
from .errors import StageError
from .grow import grow_depth
from .layout_registry import make_layout
from .layouts import Layout
from .stage import Stage
from .token_spec import TokenSpec
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


class StageSolver(Solver):
    """One stage's DeepSpeed steps on the shared skeleton: DeepSpeed saves and loads the engine's checkpoints, the
    skeleton keeps the loop, the step and time budgets and the checkpoint cadence. Every rank runs it."""

    name = "stage"
    error = StageError

    def __init__(self, engine: Any, layout: Layout, records: list[dict[str, Any]], valid: list[dict[str, Any]],
                 stage: str, stage_cfg: StageConfig, train_cfg: TrainConfig, ckpt_dir: Path, rank: int, world: int):
        super().__init__(ckpt_dir, stage_cfg.steps, train_cfg.ckpt_every)
        self.engine, self.layout, self.records, self.valid = engine, layout, records, valid
        self.stage, self.stage_cfg, self.train_cfg, self.rank, self.world = stage, stage_cfg, train_cfg, rank, world
        self.device = engine.device
        self.drop = stage_cfg.cond_drop_prob if layout.uses_cond else 0.0
        self.text_prob = stage_cfg.text_cond_prob if layout.uses_cond else 0.0
        self.weights = record_weights(records)
        self.train_loss: float | None = None
        self.val_loss: float | None = None
        self.in_a_row, self.skipped = 0, 0
        self.window_tokens, self.window_start = 0, time.perf_counter()
        self.run_tokens, self.run_time = 0, 0.0
        self.stop_at = self.total_steps
        # A fresh run that stops before its first step has nothing worth a checkpoint.
        self.saved_step = 0
        self.snapshot_steps: frozenset[int] = frozenset()
        self.snapshot_dir = ckpt_dir.parent / "snapshots"

    def has_checkpoint(self) -> bool:
        """Whether ckpt_dir holds a DeepSpeed checkpoint tag."""
        return bool(checkpoint_tags(self.state_path))

    def resume(self) -> bool:
        """Load the latest DeepSpeed checkpoint (engine, optimizer, scheduler) and the losses it was saved with."""
        if not self.has_checkpoint():
            return False
        path, client = self.engine.load_checkpoint(str(self.state_path), tag=checkpoint_tags(self.state_path)[-1])
        if path is None:
            raise StageError(f"could not load the latest checkpoint in {self.state_path}; remove it to fall back to an "
                             "older one")
        self.step = self.saved_step = int(client["step"])
        # A resumed run that has no step left still reports the losses its checkpoint was saved with.
        self.train_loss, self.val_loss = client.get("train_loss"), client.get("val_loss")
        log.info("%s: resumed from %s at step %d", self.stage, path, self.step)
        return True

    def save(self) -> None:
        """DeepSpeed checkpoint of the current step on every rank (see save_checkpoint)."""
        save_checkpoint(self.engine, self.state_path, self.step, self.train_cfg.keep_last, self.rank, self.train_loss,
                        self.val_loss)
        self.saved_step = self.step

    def should_stop(self) -> bool:
        """Time budget spent on any rank: every rank agrees (one all-reduce)."""
        return _any_rank(self.budget.spent(), self.device)

    def checkpoint_due(self) -> bool:
        """Every ckpt_every steps and at the last step of the schedule."""
        return self.step % self.ckpt_every == 0 or self.step == self.total_steps

    def train_step(self) -> dict[str, float]:
        """grad_accum micro-batches, each redrawn while any rank's loss is non-finite (up to max_nonfinite in a row)."""
        cfg, losses = self.train_cfg, []
        for micro in range(cfg.grad_accum):
            attempt = 0
            while True:
                seed = _seed(cfg.seed, self.rank, self.step, micro, attempt)
                gen = torch.Generator().manual_seed(seed)
                torch.manual_seed(seed + 1)
                tokens, mask = sample_batch(self.layout, self.records, self.stage_cfg.batch_size, gen, self.drop,
                                            self.text_prob, self.stage_cfg.melody_drop_prob, self.weights)
                loss = lm_loss(self.engine, to_device(tokens, self.device), mask, self.layout)
                mean, finite = _reduce_loss(loss, self.world, self.device)
                if finite:
                    self.in_a_row = 0
                    break
                self.in_a_row, self.skipped, attempt = self.in_a_row + 1, self.skipped + 1, attempt + 1
                if self.rank == 0:
                    log.warning("%s step %d: non-finite loss, batch skipped (%d in a row)", self.stage, self.step,
                                self.in_a_row)
                    self.engine.monitor.write_events([("Train/nonfinite_skipped", self.skipped, self.step)])
                if self.in_a_row >= cfg.max_nonfinite:
                    raise StageError(
                        f"{self.stage} training diverged: {self.in_a_row} non-finite losses in a row at step {self.step}; "
                        "lower train.lr, raise train.warmup_steps or use train.grad_clip, then --resume")
            self.engine.backward(loss)
            self.engine.step()
            losses.append(mean)
            self.window_tokens += int(mask[:, 1:].sum()) * self.world
        self.train_loss = sum(losses) / len(losses)
        return {"loss": self.train_loss}

    def after_step(self, terms: dict[str, float] | None) -> None:
        """Monitor logs every log_every steps, validation every val_every steps and at the last step."""
        step, total = self.step, self.total_steps
        if step % self.train_cfg.log_every == 0 or step == self.stop_at:
            elapsed = time.perf_counter() - self.window_start
            rate = self.window_tokens / max(elapsed, 1e-9)
            self.run_tokens, self.run_time = self.run_tokens + self.window_tokens, self.run_time + elapsed
            self.window_tokens, self.window_start = 0, time.perf_counter()
            lr = self.engine.get_lr()[0]
            if self.rank == 0:
                log.info("%s step %d/%d loss %.4f lr %.2e %.0f target tok/s", self.stage, step, total, self.train_loss,
                         lr, rate)
                self.engine.monitor.write_events([("Train/loss", self.train_loss, step), ("Train/lr", lr, step),
                                                  ("Train/target_tokens_per_s", rate, step)])
        snapshot = step in self.snapshot_steps
        if self.valid and (step % self.train_cfg.val_every == 0 or step == total or snapshot):
            self.val_loss = validate(self.engine, self.layout, self.valid, self.stage_cfg.batch_size, self.rank,
                                     self.world, self.device)
            if self.rank == 0:
                log.info("%s step %d validation loss %.4f", self.stage, step, self.val_loss)
                self.engine.monitor.write_events([("Val/loss", self.val_loss, step)])
        if snapshot:
            self.snapshot()

    def snapshot(self) -> None:
        """Export the model at this step to snapshots/step-<N>.pt (a learning curve's point), checkpointing first
        because a bf16 ZeRO export rebuilds its weights from the step's checkpoint."""
        if self.saved_step != self.step:
            self.save()
        path = self.snapshot_dir / f"step-{self.step}.pt"
        if self.rank == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        export(self.engine, self.layout, self.train_cfg, self.state_path, self.step, str(path), self.rank,
               {"step": self.step, "total_steps": self.total_steps, "finished": False, "val_loss": self.val_loss,
                "train_loss": self.train_loss})


def train_stage(stage: str, records: list[dict[str, Any]], tokens: TokenSpec | Mapping[str, Any], stage_cfg: StageConfig,
                train_cfg: TrainConfig, out_dir: str | Path, *, valid_records: list[dict[str, Any]] | None = None,
                resume: bool = False, restart: bool = False, max_minutes: float | None = None,
                max_steps: int | None = None, snapshot_steps: Sequence[int] = (),
                init_from: str | Path | None = None) -> TrainResult:
    """Train `stage` on token records described by `tokens` (a spec or the cache metadata) into out_dir
    (checkpoints/, logs/, model.pt); returns a TrainResult.

    resume continues from the last checkpoint, restart deletes the checkpoints first (existing checkpoints with
    neither is an error). max_steps stops early (resumable) like max_minutes; the LR schedule spans stage_cfg.steps.
    At each of `snapshot_steps` the model is also exported to out_dir/snapshots/step-<N>.pt. `init_from` (an exported
    model.pt of the same architecture and layout, or a shallower one, grown) warm-starts a fresh run: its weights, a
    new optimizer and schedule.
    """
    if not records:
        raise StageError(f"no training records for the {stage} stage: run `strata tokenize` first")
    import torch.distributed as dist

    rank, world = init_distributed()
    out_dir = Path(out_dir)
    ckpt_dir = out_dir / "checkpoints"
    if restart and rank == 0:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    dist.barrier()
    layout = make_layout(stage, tokens, stage_cfg.crop_seconds, stage_cfg.layout, stage_cfg.melody, stage_cfg.aligned)
    engine = _engine(layout, stage_cfg, train_cfg, world, out_dir / "logs", stage, None if resume else init_from)
    valid = (valid_records or [])[: train_cfg.val_max_records]
    solver = StageSolver(engine, layout, records, valid, stage, stage_cfg, train_cfg, ckpt_dir, rank, world)
    if solver.has_checkpoint() and not resume:
        raise StageError(f"{ckpt_dir} already holds {stage} checkpoints: pass --resume to continue, "
                         "or --restart to start over")
    solver.resume()
    if solver.text_prob > 0 and rank == 0 and not any(r.get("cond_text") is not None for r in records):
        log.warning("%s: text_cond_prob=%.2f but the cache holds no caption tokens (cache.caption_variants=0 or no "
                    "captions): training on audio tokens only", stage, solver.text_prob)
    total = stage_cfg.steps
    solver.stop_at = total if max_steps is None else min(total, max_steps)
    solver.snapshot_steps = frozenset(int(n) for n in snapshot_steps)
    engine.train()
    finished = solver.run(Budget(max_minutes), stop_at=solver.stop_at)
    step, train_loss, val_loss = solver.step, solver.train_loss, solver.val_loss
    model_path = str(out_dir / "model.pt")  # also on a time-limit stop, so a budgeted run always leaves a usable model
    export(engine, layout, train_cfg, ckpt_dir, step, model_path, rank,
           {"step": step, "total_steps": total, "finished": finished, "val_loss": val_loss, "train_loss": train_loss,
            "records": len(records), "train": asdict(train_cfg), "stage_config": asdict(stage_cfg)})
    dist.barrier()
    return TrainResult(stage, step, total, finished, train_loss, val_loss,
                       solver.run_tokens / solver.run_time if solver.run_time else 0.0, solver.skipped, model_path)


def validate(engine: Any, layout: Layout, records: list[dict[str, Any]], batch_size: int, rank: int, world: int,
             device: torch.device) -> float:
    """Mean target-token loss over the validation records, sharded across ranks (crops at 0, no dropping)."""
    import torch.distributed as dist

    engine.eval()
    totals = torch.tensor(target_loss_sums(engine, layout, records[rank::world], batch_size, device), dtype=torch.float64)
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


def _engine(layout: Layout, stage_cfg: StageConfig, train_cfg: TrainConfig, world: int, log_dir: Path,
            stage: str, init_from: str | Path | None = None) -> Any:
    torch.manual_seed(train_cfg.seed)
    model = Transformer(stage_cfg.model, layout.vocab.size, streams=layout.streams)
    if init_from is not None:
        _warm_start(model, layout, Path(init_from))
    return build_engine(model, train_cfg, stage_cfg.batch_size, world, stage_cfg.steps, log_dir, stage)


def _warm_start(model: Transformer, layout: Layout, path: Path) -> None:
    """Copy an exported stage's weights into `model`; its model config, vocabulary and layout kind must match this
    run's (the weights do not depend on the number of streams, so aligned streams may be added). A start with fewer
    layers and otherwise the same model is grown to this run's depth without changing what it computes."""
    start = Stage.load(path)
    old, new = asdict(start.model.cfg), asdict(model.cfg)
    deeper = old["n_layers"] < new["n_layers"] and {**old, "n_layers": new["n_layers"]} == new
    if (old != new and not deeper) or start.layout.vocab.spec() != layout.vocab.spec() \
            or start.layout.kind != layout.kind:
        raise StageError(f"--init-from {path}: its model or token layout differs from this stage's config")
    state = start.model.state_dict()
    if deeper:
        state = grow_depth(state, old["n_layers"], new["n_layers"])
        log.info("grown from %d to %d layers", old["n_layers"], new["n_layers"])
    model.load_state_dict(state)
    log.info("warm start from %s", path)


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


def _any_rank(flag: bool, device: torch.device) -> bool:
    """Whether `flag` holds on any rank, so every rank takes the same branch (one all-reduce)."""
    import torch.distributed as dist

    over = torch.tensor([1.0 if flag else 0.0], device=device)
    if dist.get_world_size() > 1:
        dist.all_reduce(over, op=dist.ReduceOp.MAX)
    return bool(over.item())
