"""Config of the semantic tokenizer: SSL (fairseq2) or mel features, then faiss k-means."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class SSLTrainConfig:
    """Optimisation settings for `strata train semantic-ssl` (fairseq2's wav2vec 2.0 contrastive objective)."""

    steps: int = 600
    batch_size: int = 8
    segment_seconds: float = 2.0
    lr: float = 5e-4
    warmup_steps: int = 100
    grad_clip: float = 10.0
    ckpt_every: int = 50
    stats_clips: int = 64
    seed: int = 0


@dataclass
class KMeansConfig:
    """faiss k-means over normalised features: `max_frames` sampled frames, batched assignment."""

    clusters: int = 1024
    max_frames: int = 200_000
    iters: int = 25
    assign_batch: int = 65536
    seed: int = 0


@dataclass
class SemanticConfig:
    """`source` picks SSL features (fairseq2 wav2vec2 / w2v-BERT) or zero-training log-mel frames.

    `layer` is 1-based: the output of the layer-th encoder layer. The trainable wav2vec2's conv stack hops
    640 samples (25 Hz at 16 kHz); `pool` averages that many encoder frames into one token (w2v-BERT: 50 Hz / 2).
    """

    source: Literal["ssl", "mel"] = "ssl"
    family: Literal["wav2vec2", "w2vbert"] = "wav2vec2"
    pretrained: str | None = None
    sample_rate: int = 16000
    model_dim: int = 256
    num_layers: int = 4
    num_heads: int = 4
    ffn_dim: int = 1024
    conv_channels: int = 128
    layer: int = 3
    pool: int = 1
    mel_bins: int = 64
    mel_rate: float = 25.0
    train: SSLTrainConfig = field(default_factory=SSLTrainConfig)
    kmeans: KMeansConfig = field(default_factory=KMeansConfig)
