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
                 cond_drop_prob: float = 0.0, text_cond_prob: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch: records drawn with replacement, random crops, conditioning dropped with cond_drop_prob
    and taken from a caption instead of the audio with text_cond_prob."""
    picks = torch.randint(0, len(records), (batch_size,), generator=gen).tolist()
    return collate([layout.example(records[i], gen, cond_drop_prob, text_cond_prob) for i in picks])


def eval_batches(layout: Layout, records: list[dict[str, Any]], batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Deterministic batches over all records (crops at the start, no dropping) for validation loss."""
    examples = [layout.example(r, None, 0.0) for r in records]
    return [collate(examples[i:i + batch_size]) for i in range(0, len(examples), batch_size)]


def to_device(t: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """Copy a host tensor to `device`; to CUDA through pinned memory without blocking the host."""
    device = torch.device(device)
    if device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def lm_loss(model: torch.nn.Module, tokens: torch.Tensor, mask: torch.Tensor, layout: Layout | None = None,
            reduction: str = "mean") -> torch.Tensor:
    """Next-token cross-entropy over target positions only ('sum' returns the summed loss for exact averaging).

    A host `mask` keeps the step free of device syncs (positions are indexed, not boolean-selected, on the device).
    With a layout, each target is scored against its own level's ids only, the distribution the sampler draws
    from (it restricts every step to `layout.target_span`), and logits are computed for that section alone.
    """
    select = mask[:, 1:]
    if select.device.type == "cpu":
        # Target positions are found on the host: boolean indexing on a GPU waits for the device to count them.
        select = to_device(select.reshape(-1).nonzero().squeeze(1), tokens.device)
        targets = tokens[:, 1:].reshape(-1).index_select(0, select)
    else:
        targets = tokens[:, 1:][select]
    if layout is None:
        logits = model(tokens[:, :-1], select=select)
        return F.cross_entropy(logits.float(), targets, reduction=reduction)
    lo, _ = layout.vocab.span(layout.target, 0)
    levels, bins = layout.target_levels, layout.vocab.bins(layout.target)
    logits = model(tokens[:, :-1], select=select, vocab_range=(lo, lo + levels * bins))
    rel = targets - lo
    if levels > 1:
        logits = logits.view(-1, levels, bins)[torch.arange(rel.shape[0], device=rel.device), rel // bins]
    return F.cross_entropy(logits.float(), rel % bins, reduction=reduction)
