"""The one learning-rate schedule of every trainer: linear warmup, an optional hold, then cosine or linear decay."""
from __future__ import annotations

import math

SHAPES = ("cosine", "linear")


def decay_factor(progress: float, floor: float, shape: str = "cosine", share: float = 1.0) -> float:
    """LR multiplier at `progress` (0..1) of the decay span: 1.0 until the last `share` of it, then down to `floor`
    at progress 1 along a half cosine or a straight line."""
    if shape not in SHAPES:
        raise ValueError(f"unknown LR decay shape {shape!r}: use one of {', '.join(SHAPES)}")
    if share <= 0:
        return 1.0
    ramp = min(1.0, max(0.0, (progress - (1.0 - share)) / share))
    if shape == "linear":
        return 1.0 - (1.0 - floor) * ramp
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * ramp))


def lr_factor(step: int, total: int, warmup: int = 0, floor: float = 0.0, shape: str = "cosine",
              share: float = 1.0) -> float:
    """LR multiplier at `step`: (step + 1) / warmup during the warmup steps, then `decay_factor` over the steps
    from warmup to `total` (floor = 1.0 holds the peak after warmup)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return decay_factor(progress, floor, shape, share)


def set_lr(optimizers: object, lr: float) -> float:
    """Set `lr` on every parameter group of one optimizer or a list of them; returns `lr`."""
    for opt in optimizers if isinstance(optimizers, (list, tuple)) else [optimizers]:
        for group in opt.param_groups:
            group["lr"] = lr
    return lr
