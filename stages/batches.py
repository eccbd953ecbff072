"""Training batches from token records, and the target-only language-model loss."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .layouts import Layout
from .vocab import PAD


def collate(examples: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad (tokens, target mask) pairs ([T] or [T,streams]) into [B,T(,streams)]; padding is PAD, never a target."""
    length = max(t.shape[0] for t, _ in examples)
    rest = tuple(examples[0][0].shape[1:])
    tokens = torch.full((len(examples), length, *rest), PAD, dtype=torch.long)
    mask = torch.zeros((len(examples), length, *rest), dtype=torch.bool)
    for i, (t, m) in enumerate(examples):
        tokens[i, : t.shape[0]] = t
        mask[i, : m.shape[0]] = m
    return tokens, mask


def sample_batch(layout: Layout, records: list[dict[str, Any]], batch_size: int, gen: torch.Generator,
                 cond_drop_prob: float = 0.0, text_cond_prob: float = 0.0,
                 melody_drop_prob: float = 0.0, weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch: records drawn with replacement (in proportion to `weights` where given), random crops,
    conditioning dropped with cond_drop_prob, taken from a caption instead of the audio with text_cond_prob, melody
    masked with melody_drop_prob."""
    if weights is None:
        picks = torch.randint(0, len(records), (batch_size,), generator=gen).tolist()
    else:
        picks = torch.multinomial(weights, batch_size, replacement=True, generator=gen).tolist()
    return collate([layout.example(records[i], gen, cond_drop_prob, text_cond_prob, melody_drop_prob) for i in picks])


def record_weights(records: list[dict[str, Any]]) -> torch.Tensor | None:
    """The records' draw weights (their optional "weight" field, 1 where absent); None when no record has one."""
    if not any("weight" in r for r in records):
        return None
    weights = torch.tensor([float(r.get("weight", 1.0)) for r in records], dtype=torch.double)
    if not bool(torch.isfinite(weights).all()) or bool((weights < 0).any()) or float(weights.sum()) <= 0:
        raise ValueError("record weights must be finite, >= 0 and not all 0")
    return weights


def eval_batches(layout: Layout, records: list[dict[str, Any]], batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Deterministic batches over all records (crops at the start, no dropping) for validation loss."""
    examples = [layout.example(r, None, 0.0) for r in records]
    return [collate(examples[i:i + batch_size]) for i in range(0, len(examples), batch_size)]


def text_conditioned(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record once per stored caption, conditioned on that caption's tokens instead of its audio's (what
    generation from a prompt conditions on); records without caption tokens are left out."""
    out = []
    for record in records:
        texts = record.get("cond_text")
        if texts is not None:
            out += [{**record, "cond": row} for row in texts]
    return out


@torch.no_grad()
def target_loss_sums(model: torch.nn.Module, layout: Layout, records: list[dict[str, Any]], batch_size: int,
                     device: torch.device | str = "cpu") -> tuple[float, int]:
    """(summed target-token loss, target tokens) over `records` in eval batches: validation loss is sum / count."""
    total, count = 0.0, 0
    for tokens, mask in eval_batches(layout, records, batch_size):
        total += float(lm_loss(model, to_device(tokens, device), mask, layout, reduction="sum"))
        count += int(mask[:, 1:].sum())
    return total, count


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
    Multi-stream tokens [B,T,streams] (the delay layout, which is required then) score stream q of every target
    step against level q's ids; empty (PAD) cells carry no loss.
    """
    if tokens.dim() == 3:
        if layout is None:
            raise ValueError("multi-stream tokens need their layout to score each stream against its level")
        return _stream_loss(model, tokens, mask, layout, reduction)
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


def _stream_loss(model: torch.nn.Module, tokens: torch.Tensor, mask: torch.Tensor, layout: Layout,
                 reduction: str) -> torch.Tensor:
    """Cross-entropy of the target streams of every step that has one; indices come from the host mask."""
    levels, bins = layout.target_levels, layout.vocab.bins(layout.target)
    lo, _ = layout.vocab.span(layout.target, 0)
    cells = mask[:, 1:, :levels].cpu()
    steps = cells.any(-1).reshape(-1).nonzero().squeeze(1)
    keep = cells.reshape(-1, levels).index_select(0, steps).reshape(-1).nonzero().squeeze(1)
    steps, keep = to_device(steps, tokens.device), to_device(keep, tokens.device)
    logits = model(tokens[:, :-1], select=steps, vocab_range=(lo, lo + levels * bins)).reshape(-1, bins)
    targets = tokens[:, 1:, :levels].reshape(-1, levels).index_select(0, steps)
    rel = (targets - lo - bins * torch.arange(levels, device=targets.device)).reshape(-1)
    return F.cross_entropy(logits.index_select(0, keep).float(), rel.index_select(0, keep), reduction=reduction)
