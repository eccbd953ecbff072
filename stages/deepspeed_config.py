"""The DeepSpeed config and LR schedule built from TrainConfig, and the process setup DeepSpeed needs."""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path
from typing import Any, Callable, Iterator

from training.schedule import lr_factor

from .config import TrainConfig


def deepspeed_config(train: TrainConfig, micro_batch: int, world_size: int, log_dir: Path, job_name: str) -> dict[str, Any]:
    """ZeRO stage, bf16/fp32, accumulation, clipping and the CSV + TensorBoard monitors (optimizer/LR are client objects)."""
    zero: dict[str, Any] = {"stage": train.zero_stage}
    if train.zero_stage in (1, 2):
        zero.update(overlap_comm=False, contiguous_gradients=True, reduce_bucket_size=int(5e7))
    return {
        "train_micro_batch_size_per_gpu": micro_batch,
        "gradient_accumulation_steps": train.grad_accum,
        "train_batch_size": micro_batch * train.grad_accum * world_size,
        "gradient_clipping": train.grad_clip,
        "zero_optimization": zero,
        "bf16": {"enabled": train.precision == "bf16"},
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 2**31 - 1,
        "wall_clock_breakdown": False,
        "csv_monitor": {"enabled": True, "output_path": str(log_dir), "job_name": job_name},
        "tensorboard": {"enabled": True, "output_path": str(log_dir), "job_name": job_name},
    }


def build_engine(model: Any, train: TrainConfig, micro_batch: int, world_size: int, total_steps: int, log_dir: Path,
                 job_name: str) -> Any:
    """The DeepSpeed engine around `model`: AdamW (fused kernels on CUDA), warmup-cosine LR and `deepspeed_config`."""
    import deepspeed
    import torch

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    # The fused kernel updates every parameter of a group in one launch; it exists for CUDA tensors only.
    fused = {"fused": True} if torch.cuda.is_available() else {}
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": train.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=train.lr, betas=(0.9, 0.95), **fused)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(train, total_steps))
    config = deepspeed_config(train, micro_batch, world_size, log_dir, job_name)
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, lr_scheduler=scheduler, config=config)
    return engine


def warmup_cosine(train: TrainConfig, total_steps: int) -> Callable[[int], float]:
    """LR multiplier: linear warmup over warmup_steps, then cosine decay to min_lr_ratio at total_steps."""
    warmup, floor = max(0, train.warmup_steps), train.min_lr_ratio
    return lambda step: lr_factor(step, total_steps, warmup, floor)


def prepare_environment() -> None:
    """Single-process defaults for torch.distributed (a launcher's values win), CPU accelerator without CUDA."""
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    cache = Path(os.environ.get("STRATA_CACHE", Path.home() / ".cache" / "strata"))
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(cache / "torch_extensions"))
    if "RANK" not in os.environ:
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
    os.environ.setdefault("LOCAL_RANK", "0")


def init_distributed() -> tuple[int, int]:
    """Join (or start, as a single process) the process group DeepSpeed trains in; returns (rank, world size)."""
    prepare_environment()
    import deepspeed
    import torch
    import torch.distributed as dist
    from deepspeed.comm.torch import build_shm_op

    with _extension_build_guard(Path(os.environ["TORCH_EXTENSIONS_DIR"])):
        build_shm_op()  # loaded once per process: init_distributed below reuses it without touching the build lock
    deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


@contextlib.contextmanager
def _extension_build_guard(root: Path) -> Iterator[None]:
    """Serialise DeepSpeed's just-in-time op loads across processes and clear build locks a killed process left.

    torch marks a build or load in progress with a plain `lock` file; a process killed meanwhile (kill -9, OOM) never
    removes it, and every later process waits on it forever. Strata loads ops only while holding this flock, and an
    flock is released when its holder dies, so any `lock` file found while holding it belongs to a dead process.
    """
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "strata-build.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            for stale in [*root.glob("*/lock"), *root.glob("*/*/lock")]:
                stale.unlink(missing_ok=True)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
