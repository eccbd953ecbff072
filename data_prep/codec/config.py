"""Config of the EnCodec acoustic tokenizer and its small trainable variant."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CodecTrainConfig:
    """Optimisation settings for `strata train codec` (EnCodec losses plus the training fixes in this package's README)."""

    steps: int = 2000
    batch_size: int = 8
    segment_seconds: float = 1.0
    lr: float = 1e-3
    # Fraction of this invocation's budget (steps or --max-minutes) over which LR decays linearly to lr * lr_min_ratio.
    lr_decay: float = 0.0
    lr_min_ratio: float = 0.1
    bandwidths: list[float] = field(default_factory=lambda: [1.5, 3.0, 6.0])
    ckpt_every: int = 200
    snapshot_every: int = 500
    log_every: int = 50
    seed: int = 0
    threads: int = 2
    # Loss weights: waveform L1, log-mel L1, linear-magnitude mel L1, RVQ commitment, full-resolution log-STFT L1.
    w_time: float = 0.1
    w_logmel: float = 1.0
    w_linmel: float = 1.0
    w_commit: float = 1.0
    w_logstft: float = 0.0
    mel_scales: list[int] = field(default_factory=lambda: [256, 512, 1024, 2048])
    stft_scales: list[int] = field(default_factory=lambda: [512, 1024, 2048])
    # Codebooks: k-means init on real frames; dead codes (EMA usage below threshold) re-seeded from the batch.
    kmeans_crops: int = 64
    kmeans_iters: int = 10
    dead_code_threshold: float = 0.05
    dead_code_reset: float = 1.0
    # Init: fan-in scaled normal weights, zero biases, the last decoder layer scaled down.
    last_layer_scale: float = 0.1
    # Start from a saved codec file instead of a fresh init; with decoder_only the encoder and codebooks stay frozen,
    # so the tokens (and every token cache and stage trained on them) stay valid while the decoder learns.
    init_from: str | None = None
    decoder_only: bool = False
    # Adversarial terms (0 = off): the package's MS-STFT discriminator, hinge loss and relative feature matching.
    w_adv: float = 0.0
    w_feat: float = 0.0
    disc_filters: int = 8
    disc_lr: float = 1e-4


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
    lstm: int = 2
    causal: bool = False
    max_bandwidth: float = 6.0
    chunk_seconds: float = 10.0
    context_seconds: float = 1.0
    train: CodecTrainConfig = field(default_factory=CodecTrainConfig)
