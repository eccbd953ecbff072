"""Config of the EnCodec acoustic tokenizer and its small trainable variant."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CodecTrainConfig:
    """Optimisation settings for `strata train codec`."""

    steps: int = 2000
    batch_size: int = 8
    segment_seconds: float = 1.0
    lr: float = 1e-3
    bandwidths: list[float] = field(default_factory=lambda: [1.5, 3.0, 6.0])
    ckpt_every: int = 200
    seed: int = 0


@dataclass
class CodecConfig:
    """EnCodec 24 kHz: `pretrained` is 'official' (package loader), a local state-dict path, or null to train."""

    pretrained: str | None = None
    sample_rate: int = 24000
    bandwidth: float = 6.0
    n_coarse: int = 4
    n_filters: int = 8
    dimension: int = 128
    ratios: list[int] = field(default_factory=lambda: [8, 5, 4, 2])
    bins: int = 1024
    train: CodecTrainConfig = field(default_factory=CodecTrainConfig)
