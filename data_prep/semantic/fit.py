"""Fit a semantic tokenizer's normalisation statistics and k-means centroids on a set of clips."""
from __future__ import annotations

from typing import Sequence

import torch

from .config import KMeansConfig
from .kmeans import assign, fit_kmeans
from .tokenizer import SemanticTokenizer


def raw_frames(tok: SemanticTokenizer, clips: Sequence[torch.Tensor], sample_rate: int, batch: int = 8) -> list[torch.Tensor]:
    """Unnormalised frames [F_i,D] of each clip, batching clips of equal length."""
    out: list[torch.Tensor | None] = [None] * len(clips)
    by_len: dict[int, list[int]] = {}
    for i, clip in enumerate(clips):
        by_len.setdefault(int(clip.shape[-1]), []).append(i)
    for idx in by_len.values():
        for start in range(0, len(idx), batch):
            group = idx[start : start + batch]
            frames = tok.extractor.raw(torch.stack([clips[i].float() for i in group]), sample_rate)
            for j, i in enumerate(group):
                out[i] = frames[j]
    return [f for f in out if f is not None]


def fit_tokenizer(
    tok: SemanticTokenizer, clips: Sequence[torch.Tensor], sample_rate: int, cfg: KMeansConfig
) -> dict[str, float]:
    """Fit mean/std and k-means on `clips` (seeded frame sample); returns figures (frames, inertia per frame, clusters used)."""
    frames = torch.cat(raw_frames(tok, clips, sample_rate))
    tok.extractor.fit_stats(frames)
    normed = (frames - tok.extractor.mean) / tok.extractor.std
    centroids, inertia = fit_kmeans(normed, cfg)
    tok.set_centroids(centroids)
    ids, _ = assign(normed, centroids, cfg.assign_batch)
    return {
        "frames": float(frames.shape[0]),
        "inertia_per_frame": inertia / max(1, frames.shape[0]),
        "clusters_used": float(torch.unique(ids).numel()),
    }
