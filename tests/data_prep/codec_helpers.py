"""Tiny codec configs and signals shared by the codec tests."""
from __future__ import annotations

import math

import torch

from data_prep.codec import CodecConfig, CodecTrainConfig


def tiny_config(lstm: int = 1, **train: object) -> CodecConfig:
    """A ~10k-parameter codec: 4 levels x 64 bins at 75 Hz (0.45 kbps per level), 2 coarse."""
    defaults = dict(steps=4, batch_size=2, segment_seconds=0.25, bandwidths=[0.9, 1.8], ckpt_every=2, snapshot_every=0,
                    log_every=1, kmeans_crops=4, kmeans_iters=2, mel_scales=[256, 512], threads=1)
    defaults.update(train)
    return CodecConfig(n_filters=2, dimension=16, bins=64, lstm=lstm, bandwidth=1.8, max_bandwidth=1.8, n_coarse=2,
                       train=CodecTrainConfig(**defaults))


def tones(n: int, seconds: float, sample_rate: int = 24000, seed: int = 0) -> list[torch.Tensor]:
    """Harmonic tones with random pitch, one per clip."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    clips = []
    for _ in range(n):
        f = 110.0 * 2 ** (float(torch.rand(1, generator=g)) * 3)
        clips.append(sum(0.2 / h * torch.sin(2 * math.pi * f * h * t) for h in range(1, 4)))
    return clips
