"""Configs of the stage transformers and their training."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class ModelConfig:
    """Decoder-only transformer size; vocabulary sizes come from the tokenizers at build time."""

    n_layers: int = 4
    n_heads: int = 4
    d_model: int = 256
    d_ff: int = 1024
    dropout: float = 0.1
    rope_base: float = 10000.0
    tie_weights: bool = True


@dataclass
class StageConfig:
    """One stage: its model, training crop, step budget and default sampling settings."""

    model: ModelConfig = field(default_factory=ModelConfig)
    crop_seconds: float = 10.0
    steps: int = 2000
    batch_size: int = 16
    cond_drop_prob: float = 0.1
    # Share of training examples conditioned on a caption's text tokens (cache field cond_text) instead of the
    # clip's audio tokens. 0 is MusicLM (audio only); on a few hundred clips text and audio land on different
    # RVQ tokens, so a stage trained on audio alone ignores text prompts.
    text_cond_prob: float = 0.0
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 0.0
    # Token layout of coarse and fine: "flat" interleaves the levels (one token per step, F*Q steps for F frames),
    # "delay" predicts every level of a frame in one step with level q delayed by q steps (F+Q-1 steps).
    # The semantic stage has one level and is always flat.
    layout: Literal["flat", "delay"] = "flat"
    # Coarse only: also condition on the clip's melody tokens, so a `--melody` steers pitch in the acoustic tokens
    # and not only through the semantic tokens. The semantic stage reads melody whenever the cache has it.
    melody: bool = False
    # Share of training examples whose melody tokens are replaced by MASK, as at generation without --melody.
    melody_drop_prob: float = 0.0
    # Delay coarse only: each step also reads the semantic (and melody) token of the frame it predicts, besides the
    # prefix, so that pitch and content reach the frame they belong to without a learned alignment.
    aligned: bool = False
    # A manifest attribute (e.g. "drums") whose values are drawn equally often in training batches; "" draws clips
    # uniformly. It lets a value that few clips have (drums are in 30% of the synthetic corpus's clips) weigh as much
    # in training as the common one.
    balance: str = ""


@dataclass
class StagesConfig:
    """The three stages, each trained on its own."""

    semantic: StageConfig = field(default_factory=lambda: StageConfig(crop_seconds=30.0, temperature=1.0))
    coarse: StageConfig = field(default_factory=lambda: StageConfig(crop_seconds=10.0, temperature=0.95))
    fine: StageConfig = field(default_factory=lambda: StageConfig(crop_seconds=3.0, temperature=0.4))


@dataclass
class TrainConfig:
    """Optimisation shared by the stages; becomes the DeepSpeed config."""

    lr: float = 3e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    grad_accum: int = 1
    zero_stage: int = 0
    precision: Literal["fp32", "bf16"] = "fp32"
    ckpt_every: int = 200
    keep_last: int = 2
    val_every: int = 200
    val_max_records: int = 64
    max_nonfinite: int = 5
    log_every: int = 20
    seed: int = 0
