"""Config of the CLAP conditioner and the RVQ that turns its embedding into tokens."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ClapTrainConfig:
    """Optimisation settings for `strata train clap`."""

    steps: int = 1500
    batch_size: int = 32
    lr: float = 3e-4
    seed: int = 0


@dataclass
class ClapConfig:
    """`pretrained` is a local official checkpoint (HTSAT-base + RoBERTa) or null for the small trainable CLAP."""

    pretrained: str | None = None
    tokenizer_path: str | None = None
    audio_model: str = "HTSAT-tiny"
    text_model: str = "transformer"
    window_seconds: float = 10.0
    hop_seconds: float = 1.0
    train: ClapTrainConfig = field(default_factory=ClapTrainConfig)


@dataclass
class RVQConfig:
    """Residual vector quantizer over the CLAP embedding: `levels` tokens of `bins` each."""

    levels: int = 12
    bins: int = 1024
    kmeans_iters: int = 20
    seed: int = 0
