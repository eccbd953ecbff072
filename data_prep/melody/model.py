"""The learned melody embedding (MusicLM-style): chroma frames of one window -> a unit vector.

Input per frame: the pitch-class distribution (12, octave-invariant, so a melody moved by octaves to fit an
instrument's range keeps its features) plus a loudness channel. A small 1-D conv net keeps the note order
(pooled to 8 time steps, then flattened), so two windows match only when their melodies unfold alike.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import MelodyConfig
from .features import fold_chroma, semitone_frames

IN_CHANNELS = 13
TIME_STEPS = 8


def chroma_features(wav: torch.Tensor, sample_rate: int, cfg: MelodyConfig) -> torch.Tensor:
    """Audio -> Float[B, 13, F] at cfg.feature_rate: normalised chroma plus scaled loudness (0 = silence floor)."""
    semis, db = semitone_frames(wav, sample_rate, cfg.feature_rate, cfg.low_midi, cfg.high_midi)
    return normalise_chroma(fold_chroma(semis, cfg.low_midi), db, cfg.silence_db)


def normalise_chroma(chroma: torch.Tensor, db: torch.Tensor, silence_db: float) -> torch.Tensor:
    """Pitch-class power [B, 12, F] + dB [B, F] -> [B, 13, F] model input."""
    dist = chroma / (chroma.sum(dim=1, keepdim=True) + 1e-10)
    loud = ((db - silence_db) / -silence_db).clamp(0, 1)
    dist = dist * (loud > 0).unsqueeze(1)
    return torch.cat([dist, loud.unsqueeze(1)], dim=1)


class MelodyNet(nn.Module):
    """[B, 13, frames] -> [B, embed_dim], L2-normalised."""

    def __init__(self, width: int, embed_dim: int) -> None:
        super().__init__()
        chans = [IN_CHANNELS, width, width, width]
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip(chans, chans[1:])):
            layers += [nn.Conv1d(cin, cout, 5, stride=1 if i == 0 else 2, padding=2), nn.GroupNorm(8, cout), nn.GELU()]
        self.convs = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool1d(TIME_STEPS)
        self.proj = nn.Sequential(nn.Linear(width * TIME_STEPS, embed_dim), nn.GELU(), nn.Linear(embed_dim, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(self.convs(x)).flatten(1)
        return F.normalize(self.proj(h), dim=-1)


def semi_hard_triplet_loss(emb: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """FaceNet semi-hard triplet loss over all anchor-positive pairs of a batch (squared distances)."""
    dist = torch.cdist(emb, emb).pow(2)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool)
    pos_pairs = (same & ~eye).nonzero()
    if pos_pairs.numel() == 0:
        return emb.sum() * 0.0
    a, p = pos_pairs[:, 0], pos_pairs[:, 1]
    d_ap = dist[a, p]
    d_an = dist[a]
    neg = ~same[a]
    semi = neg & (d_an > d_ap[:, None])
    big = torch.finfo(dist.dtype).max
    semi_min = torch.where(semi, d_an, torch.full_like(d_an, big)).min(dim=1).values
    neg_max = torch.where(neg, d_an, torch.full_like(d_an, -big)).max(dim=1).values
    chosen = torch.where(semi.any(dim=1), semi_min, neg_max)
    valid = neg.any(dim=1)
    if not bool(valid.any()):
        return emb.sum() * 0.0
    return F.relu(d_ap[valid] - chosen[valid] + margin).mean()
