"""Training batches from token records, and the target-only language-model loss."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .layouts import Layout
from .vocab import PAD


def collate(examples: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad (tokens, target mask) pairs into [B,T] tensors; padding is PAD and never a target."""
    length = max(t.shape[0] for t, _ in examples)
    tokens = torch.full((len(examples), length), PAD, dtype=torch.long)
    mask = torch.zeros((len(examples), length), dtype=torch.bool)
    for i, (t, m) in enumerate(examples):
        tokens[i, : t.shape[0]] = t
        mask[i, : m.shape[0]] = m
    return tokens, mask


def sample_batch(layout: Layout, records: list[dict[str, Any]], batch_size: int, gen: torch.Generator,
                 cond_drop_prob: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch: records drawn with replacement, random crops, conditioning dropped with cond_drop_prob."""
    picks = torch.randint(0, len(records), (batch_size,), generator=gen).tolist()
    return collate([layout.example(records[i], gen, cond_drop_prob) for i in picks])


def eval_batches(layout: Layout, records: list[dict[str, Any]], batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Deterministic batches over all records (crops at the start, no dropping) for validation loss."""
    examples = [layout.example(r, None, 0.0) for r in records]
    return [collate(examples[i:i + batch_size]) for i in range(0, len(examples), batch_size)]


def lm_loss(model: torch.nn.Module, tokens: torch.Tensor, mask: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Next-token cross-entropy over target positions only ('sum' returns the summed loss for exact averaging)."""
    logits = model(tokens[:, :-1])
    targets = tokens[:, 1:].masked_fill(~mask[:, 1:], -100)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                           ignore_index=-100, reduction=reduction)
