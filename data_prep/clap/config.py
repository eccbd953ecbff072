"""Config of the CLAP conditioner and the RVQ that turns its embedding into tokens."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ClapTrainConfig:
    """Optimisation settings for `strata train clap` (the small trainable CLAP).

    `max_minutes` bounds the whole call (feature precompute included; RVQ fit and saving come after).
    `threads` is torch's intra-op thread count while training: on a shared CPU one thread per job is several
    times faster than two contending ones.
    """

    steps: int = 1500
    batch_size: int = 48
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    crop_seconds: float = 4.0
    max_minutes: float = 8.5
    ckpt_every: int = 100
    caption_keep_prob: float = 0.5
    caption_free_prob: float = 0.0     # share of training captions worded freely (data_prep/clap/free_captions.py)
    threads: int = 1
    seed: int = 0


@dataclass
class ClapConfig:
    """`pretrained` is a local official checkpoint (HTSAT-base + RoBERTa) or null for the small trainable CLAP.

    The small CLAP is a conv encoder over log-mel frames plus laion-clap's "transformer" text tower (CLIP BPE);
    `audio_model`/`text_model` name the official architecture used when `pretrained` is set.
    """

    pretrained: str | None = None
    tokenizer_path: str | None = None
    audio_model: str = "HTSAT-tiny"
    text_model: str = "transformer"
    window_seconds: float = 10.0
    hop_seconds: float = 1.0
    embed_dim: int = 512
    sample_rate: int = 16000
    n_mels: int = 64
    mel_hop: int = 640
    audio_width: int = 128
    text_width: int = 128
    text_layers: int = 2
    text_heads: int = 4
    context_length: int = 77
    train: ClapTrainConfig = field(default_factory=ClapTrainConfig)


@dataclass
class RVQConfig:
    """Residual vector quantizer over the CLAP embedding: `levels` tokens of `bins` each.

    `fit_crops` adds that many random-crop embeddings (half a window to a full window) per training clip to the
    fitting set: with one vector per clip, a few hundred clips are memorised by the first levels and the later
    levels see all-zero residuals (one code in use).
    """

    levels: int = 12
    bins: int = 1024
    kmeans_iters: int = 20
    fit_crops: int = 8
    seed: int = 0
