"""Sliding-window plans for generation beyond the training crop (MusicLM: stride of half a window)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """Generate tokens [start, end) given the `context` tokens just before `start` as prefix."""

    start: int
    end: int
    context: int


def sliding_steps(total: int, window: int, first_context: int = 0) -> list[Step]:
    """Cover `total` new tokens with windows of at most `window` tokens (prefix + new).

    The first step uses `first_context` tokens of given prefix (continuation) or none; later steps keep the
    last half window as prefix and generate the other half, so the model never sees more than it trained on.
    """
    if total <= 0:
        return []
    window = max(2, window)
    half = max(1, window // 2)
    steps: list[Step] = []
    context = min(first_context, half) if first_context else 0
    start = 0
    while start < total:
        budget = window - context
        end = min(total, start + budget)
        steps.append(Step(start, end, context))
        start = end
        context = half
    return steps

