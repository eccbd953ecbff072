"""KL divergence between an attribute classifier's label distributions on reference and generated audio (MusicLM's KLD)."""
from __future__ import annotations

import torch

EPS = 1e-8


def kl_rows(p: torch.Tensor, q: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """KL(p_i || q_i) in nats for each row of two [N,C] probability tables (smoothed by eps, renormalised)."""
    if p.shape != q.shape:
        raise ValueError(f"label distributions differ in shape: {tuple(p.shape)} vs {tuple(q.shape)}")
    p = (p.double() + eps) / (p.double() + eps).sum(-1, keepdim=True)
    q = (q.double() + eps) / (q.double() + eps).sum(-1, keepdim=True)
    return (p * (p.log() - q.log())).sum(-1)


def paired_kl(reference: torch.Tensor, generated: torch.Tensor) -> float:
    """Mean KL(reference_i || generated_i) over clips made from the same prompt (MusicLM / AudioGen protocol)."""
    return float(kl_rows(reference, generated).mean())

