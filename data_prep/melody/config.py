"""Config of the melody tokenizer: MusicGen-style chroma argmax or a learned (MusicLM) embedding."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class MelodyTrainConfig:
    """Semi-hard triplet training of the learned melody embedding (`strata train melody`)."""

    steps: int = 1000
    batch_melodies: int = 24
    lr: float = 1e-3
    margin: float = 0.2
    max_minutes: float = 6.0
    ckpt_every: int = 100
    self_pair_share: float = 0.5
    shifted_share: float = 0.0
    threads: int = 1
    seed: int = 0


@dataclass
class MelodyConfig:
    """`kind` none disables melody tokens; chroma needs no training; learned is trained with triplet loss.

    Chroma tokens are the dominant pitch class per frame at `frame_rate` Hz (plus a silent token, 13 ids).
    Learned tokens are RVQ codes of one `embed_dim` vector per `window_seconds` window, window-major
    (`rvq_levels` tokens per window, so the rate is rvq_levels / window_seconds).
    """

    kind: Literal["none", "chroma", "learned"] = "chroma"
    frame_rate: float = 4.0
    embed_dim: int = 192
    window_seconds: float = 4.0
    rvq_levels: int = 24
    rvq_bins: int = 512
    drop_prob: float = 0.5
    sample_rate: int = 16000
    feature_rate: float = 25.0
    low_midi: int = 36
    high_midi: int = 96
    silence_db: float = -50.0
    width: int = 128
    train: MelodyTrainConfig = field(default_factory=MelodyTrainConfig)
