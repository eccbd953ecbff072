"""Config of the semantic tokenizer: SSL (fairseq2) or mel features, then faiss k-means."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class SSLTrainConfig:
    """Optimisation settings for `strata train semantic-ssl`."""

    steps: int = 1000
    batch_size: int = 8
    segment_seconds: float = 4.0
    lr: float = 5e-4
    seed: int = 0


@dataclass
class KMeansConfig:
    """faiss k-means over normalised features."""

    clusters: int = 1024
    max_frames: int = 200_000
    iters: int = 25
    seed: int = 0


@dataclass
class SemanticConfig:
    """`source` picks SSL features (fairseq2 wav2vec2/w2v-BERT) or zero-training log-mel frames."""

    source: Literal["ssl", "mel"] = "ssl"
    pretrained: str | None = None
    sample_rate: int = 16000
    model_dim: int = 256
    num_layers: int = 4
    num_heads: int = 4
    ffn_dim: int = 1024
    layer: int = 3
    train: SSLTrainConfig = field(default_factory=SSLTrainConfig)
    kmeans: KMeansConfig = field(default_factory=KMeansConfig)
