"""Training figures of `bench device`: DeepSpeed throughput and MFU, exact resume, and replicas in step on two ranks.

Every batch is synthetic (random ids with a real layout's shapes), drawn from a seed per step, and dropout is
reseeded per step, so two engines fed the same step see the same batch and the same dropout masks.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from stages.batches import lm_loss, sample_batch, to_device
from stages.config import ModelConfig, TrainConfig
from stages.deepspeed_config import build_engine, init_distributed
from stages.layouts import Layout
from stages.trainer import TAG_PREFIX, save_checkpoint
from stages.transformer import Transformer

from .stage_speed import synthetic_records

# Dense bf16 tensor-core peaks (vendor datasheets, no sparsity), matched as substrings of the CUDA device name.
BF16_PEAK_FLOPS: dict[str, float] = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}
# Relative loss tolerance of a bf16 resume: about one bf16 rounding step (2^-8) of the loss.
RESUME_BF16_RTOL = 2.0 ** -8


def peak_flops(device: torch.device, override_tflops: float | None) -> float | None:
    """The bf16 peak of `device` in FLOP/s: the override, else the table entry for its name (None when unknown)."""
    if override_tflops:
        return override_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in BF16_PEAK_FLOPS.items() if k in name), None)


def train_flops(cfg: ModelConfig, head_cols: int, batch: int, seq: int, targets: int) -> float:
    """FLOPs of one forward+backward step: 6 x block weights x positions, 6 x head slice x targets, and causal
    attention (the scores and the weighted sum over the lower triangle: 6 x layers x d x seq per position)."""
    block_weights = cfg.n_layers * (4 * cfg.d_model ** 2 + 2 * cfg.d_model * cfg.d_ff)
    positions = batch * seq
    attention = 6 * cfg.n_layers * cfg.d_model * seq * positions
    return 6.0 * block_weights * positions + 6.0 * cfg.d_model * head_cols * targets + attention


class SyntheticBatches:
    """Seeded batches of one layout: `get(step)` is the same tensors for the same step on every engine and rank."""

    def __init__(self, layout: Layout, batch: int, device: torch.device, distinct: int = 4) -> None:
        crop = float(layout.crop_seconds)
        records = synthetic_records(max(2, batch), crop, layout.token_spec)
        self.batches = []
        for i in range(distinct):
            tokens, mask = sample_batch(layout, records, batch, torch.Generator().manual_seed(i))
            self.batches.append((to_device(tokens, device), mask))
        self.seq = self.batches[0][0].shape[1] - 1
        self.targets = int(self.batches[0][1][:, 1:].sum())

    def get(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of `step` (tokens on the device, target mask on the host)."""
        return self.batches[step % len(self.batches)]


def make_engine(cfg: ModelConfig, layout: Layout, train: TrainConfig, batch: int, world: int, log_dir: Path,
                compile_model: bool = False, seed: int = 0) -> Any:
    """A DeepSpeed engine over a fresh seeded Transformer, built exactly as the trainer builds it."""
    torch.manual_seed(seed)
    model = Transformer(cfg, layout.vocab.size)
    if compile_model:
        # Blocks compile one by one (in place, parameter names unchanged): the layers share one compiled graph.
        for block in model.blocks:
            block.compile()
    engine = build_engine(model, train, batch, world, 10_000, log_dir, layout.stage)
    engine.train()
    return engine


def train_step(engine: Any, layout: Layout, batches: SyntheticBatches, step: int) -> torch.Tensor:
    """One optimizer step on the batch of `step` with dropout seeded by it; the loss stays on the device."""
    torch.manual_seed(10_000 + step)
    tokens, mask = batches.get(step)
    loss = lm_loss(engine, tokens, mask, layout)
    engine.backward(loss)
    engine.step()
    return loss.detach()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_throughput(cfg: ModelConfig, layout: Layout, train: TrainConfig, batch: int,
                     steps: int, warmup: int, log_every: int, budget_s: float, peak_tflops: float | None,
                     compile_model: bool = False) -> dict[str, Any]:
    """Time `steps` DeepSpeed steps after `warmup` untimed ones; tokens/s, MFU, peak memory, losses every log_every.

    The loop reads a loss back to the host only every log_every steps; it stops early (and says so) past budget_s.
    """
    _, world = init_distributed()
    device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    started = time.perf_counter()
    batches = SyntheticBatches(layout, batch, device)
    with tempfile.TemporaryDirectory() as logs:
        engine = make_engine(cfg, layout, train, batch, world, Path(logs), compile_model)
        for s in range(warmup):
            train_step(engine, layout, batches, s)
        _sync(device)
        setup_s = time.perf_counter() - started
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        logged: list[tuple[int, float]] = []
        window = torch.zeros((), device=device)
        done, t0 = 0, time.perf_counter()
        while done < steps and time.perf_counter() - started < budget_s:
            window += train_step(engine, layout, batches, warmup + done).float()
            done += 1
            if done % log_every == 0 or done == steps:
                logged.append((done, float(window) / (done - (logged[-1][0] if logged else 0))))
                window.zero_()
        _sync(device)
        elapsed = time.perf_counter() - t0
        n_params = engine.module.num_parameters()
        del engine
    head_cols = layout.target_levels * layout.vocab.bins(layout.target)
    flops = train_flops(cfg, head_cols, batch, batches.seq, batches.targets) * done
    peak = peak_flops(device, peak_tflops)
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "parameters": n_params, "precision": train.precision, "zero_stage": train.zero_stage, "world_size": world,
        "compiled": compile_model, "batch": batch, "seq_len": batches.seq, "steps_timed": done, "steps_asked": steps,
        "stopped_by_budget": done < steps, "setup_s": round(setup_s, 3), "timed_s": round(elapsed, 4),
        "step_ms": round(1000 * elapsed / max(done, 1), 3),
        "tokens_per_s": round(batch * batches.seq * done / elapsed, 1) if done else 0.0,
        "target_tokens_per_s": round(batches.targets * done / elapsed, 1) if done else 0.0,
        "model_tflops_per_s": round(flops / elapsed / 1e12, 4) if done else 0.0,
        "peak_tflops": peak / 1e12 if peak else None,
        "mfu": round(flops / elapsed / peak, 4) if (peak and done) else None,
        "peak_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 3) if device.type == "cuda" else None,
        "losses": [{"step": s, "loss": round(v, 5)} for s, v in logged],
    }


def resume_check(cfg: ModelConfig, layout: Layout, train: TrainConfig, batch: int,
                 steps_before: int, steps_after: int = 2) -> dict[str, Any]:
    """Train steps_before steps, checkpoint, train on; a second engine loads the checkpoint and trains the same
    steps. Returns both runs' losses after the checkpoint and their largest absolute difference."""
    rank, world = init_distributed()
    device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    batches = SyntheticBatches(layout, batch, device)
    with tempfile.TemporaryDirectory() as work:
        ckpt = Path(work) / "checkpoints"
        first = make_engine(cfg, layout, train, batch, world, Path(work) / "logs")
        for s in range(steps_before):
            train_step(first, layout, batches, s)
        save_checkpoint(first, ckpt, steps_before, keep_last=1, rank=rank)
        straight = [float(train_step(first, layout, batches, steps_before + i)) for i in range(steps_after)]
        del first
        second = make_engine(cfg, layout, train, batch, world, Path(work) / "logs", seed=1)
        path, client = second.load_checkpoint(str(ckpt), tag=f"{TAG_PREFIX}{steps_before:08d}")
        if path is None or int(client["step"]) != steps_before:
            raise RuntimeError(f"the checkpoint of step {steps_before} did not load")
        resumed = [float(train_step(second, layout, batches, steps_before + i)) for i in range(steps_after)]
        del second
    diff = max(abs(a - b) for a, b in zip(straight, resumed))
    # fp32 must match exactly; bf16 kernels with non-deterministic reductions may move a loss by its last bits.
    tolerance = 0.0 if train.precision == "fp32" else RESUME_BF16_RTOL * max(abs(v) for v in straight)
    return {"precision": train.precision, "zero_stage": train.zero_stage, "checkpoint_step": steps_before,
            "uninterrupted_losses": straight, "resumed_losses": resumed, "max_abs_diff": diff,
            "exact": straight == resumed, "tolerance": tolerance, "passed": diff <= tolerance}


def two_rank_check(size: str, steps: int, timeout_s: float) -> dict[str, Any]:
    """The same training steps on 2 GPUs (torchrun) with identical batches: every rank must log the same losses."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus < 2:
        return {"skipped": f"needs 2 GPUs, this machine has {gpus}"}
    with tempfile.TemporaryDirectory() as work:
        env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "eval.bench.device", "--size", size, "--two-rank-worker", work,
               "--train-steps", str(steps)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
        if proc.returncode:
            return {"error": f"torchrun exited {proc.returncode}: {proc.stderr[-2000:]}"}
        losses = [json.loads((Path(work) / f"rank{r}.json").read_text()) for r in range(2)]
    return {"world_size": 2, "steps": steps, "rank_losses": losses, "equal": losses[0] == losses[1]}


def two_rank_worker(cfg: ModelConfig, layout: Layout, train: TrainConfig, batch: int,
                    steps: int, out_dir: Path) -> None:
    """One rank of `two_rank_check`: train `steps` steps on the shared seeded batches, write rank<R>.json."""
    rank, world = init_distributed()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    batches = SyntheticBatches(layout, batch, device)
    with tempfile.TemporaryDirectory() as logs:
        engine = make_engine(cfg, layout, train, batch, world, Path(logs))
        losses = [float(train_step(engine, layout, batches, s)) for s in range(steps)]
    (out_dir / f"rank{rank}.json").write_text(json.dumps(losses))
