"""Config of the melody tokenizer: MusicGen-style chroma argmax or a learned (MusicLM) embedding."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class MelodyConfig:
    """`kind` none disables melody tokens; chroma needs no training; learned is trained with triplet loss."""

    kind: Literal["none", "chroma", "learned"] = "chroma"
    frame_rate: float = 4.0
    embed_dim: int = 192
    window_seconds: float = 4.0
    rvq_levels: int = 24
    rvq_bins: int = 512
    train_steps: int = 1000
    drop_prob: float = 0.5
