"""Synthetic token records and cache metadata for the stage tests (no tokenizers needed)."""
from __future__ import annotations

import torch

from stages.config import ModelConfig
from stages.token_spec import TokenSpec


def tiny_spec(melody: bool = True) -> TokenSpec:
    """Token streams of a small fake tokenizer set: 25 Hz semantic, 75 Hz acoustic, 4 levels (2 coarse)."""
    return TokenSpec(semantic_rate=25.0, semantic_bins=16, acoustic_rate=75.0, codec_bins=8, n_q=4, n_coarse=2,
                     cond_levels=3, cond_bins=5, melody_rate=5.0 if melody else 0.0, melody_bins=12 if melody else 0,
                     sample_rate=24000)


def tiny_records(n: int, seconds: float, token_spec: TokenSpec, seed: int = 0, split: str = "train") -> list[dict]:
    """Token records with the shapes of the token cache's records; semantic/acoustic are simple functions of time so they are learnable."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        t_s = int(seconds * token_spec.semantic_rate)
        t_a = int(seconds * token_spec.acoustic_rate)
        phase = int(torch.randint(0, 100, (1,), generator=g))
        sem = (torch.arange(t_s) + phase) % token_spec.semantic_bins
        frames = torch.arange(t_a) + phase
        acoustic = torch.stack([(frames // (q + 1) + q) % token_spec.codec_bins for q in range(token_spec.n_q)])
        rec = {"id": f"{split}{i:03d}", "split": split,
               "cond": torch.randint(0, token_spec.cond_bins, (token_spec.cond_levels,), generator=g),
               "semantic": sem.long(), "acoustic": acoustic.long()}
        if token_spec.melody_bins:
            rec["melody"] = ((torch.arange(int(seconds * token_spec.melody_rate)) + phase) % token_spec.melody_bins).long()
        out.append(rec)
    return out


def tiny_model_config(dropout: float = 0.0) -> ModelConfig:
    """A two-layer 32-wide transformer: trains in seconds on CPU."""
    return ModelConfig(n_layers=2, n_heads=2, d_model=32, d_ff=64, dropout=dropout)
