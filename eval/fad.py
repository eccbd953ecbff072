"""Frechet Audio Distance between two sets of clips, over an injected embedding backbone.

A backbone is any callable `(wav [B,T], sample_rate) -> Float[B,D]`: the run's CLAP audio tower
(`clap_backbone`), EnCodec encoder latents (`encodec_backbone`), or VGGish/PANNs wrapped by the user.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

Backbone = Callable[[torch.Tensor, int], torch.Tensor]


def embedding_stats(emb: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and covariance [D,D] (float64) of embeddings [N,D]; needs N >= 2."""
    x = np.asarray(emb.detach().cpu().double().numpy() if isinstance(emb, torch.Tensor) else emb, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need at least 2 embeddings of shape [N,D] for a covariance, got {x.shape}")
    return x.mean(0), np.cov(x, rowvar=False)


def frechet_from_stats(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(C1 + C2 - 2 (C1 C2)^1/2), with the trace of the root from a symmetric eigenproblem.

    tr((C1 C2)^1/2) = sum sqrt(eig(C1^1/2 C2 C1^1/2)), which stays real and stable for singular covariances.
    """
    cov1, cov2 = np.atleast_2d(cov1), np.atleast_2d(cov2)
    w, v = np.linalg.eigh((cov1 + cov1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root1 @ cov2 @ root1
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * cross, 0.0))


def frechet_distance(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> float:
    """Frechet distance between the Gaussians fitted to embedding sets x [N,D] and y [M,D]."""
    return frechet_from_stats(*embedding_stats(x), *embedding_stats(y))


def embed_clips(backbone: Backbone, clips: torch.Tensor | Sequence[torch.Tensor], sample_rate: int,
                batch_size: int = 8) -> torch.Tensor:
    """Embeddings [N,D] of clips ([N,T] or a list of [T], cut to the shortest clip of each batch)."""
    rows = list(clips) if not isinstance(clips, torch.Tensor) else list(clips.unbind(0))
    out = []
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            length = min(int(c.shape[-1]) for c in chunk)
            out.append(backbone(torch.stack([c[..., :length].float() for c in chunk]), sample_rate).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, 0)


def fad(backbone: Backbone, reference: torch.Tensor | Sequence[torch.Tensor], generated: torch.Tensor | Sequence[torch.Tensor],
        sample_rate: int, batch_size: int = 8) -> float:
    """FAD between reference and generated clips under `backbone` (lower is closer)."""
    return frechet_distance(embed_clips(backbone, reference, sample_rate, batch_size),
                            embed_clips(backbone, generated, sample_rate, batch_size))


def clap_backbone(condition: Any) -> Backbone:
    """The run's CLAP audio tower (data_prep.clap.ConditionTokenizer.embed_audio)."""
    return lambda wav, sr: condition.embed_audio(wav, sr)


def encodec_backbone(codec: Any) -> Backbone:
    """EnCodec encoder latents (data_prep.codec.CodecTokenizer), mean and std over frames -> [B, 2*D]."""
    from data_prep.audio_io import resample

    def embed(wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        wav = resample(wav, sample_rate, codec.sample_rate)
        latents = codec.model.encoder(wav[:, None, :])
        return torch.cat([latents.mean(-1), latents.std(-1)], 1)

    return embed
