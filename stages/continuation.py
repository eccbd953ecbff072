"""Generation longer than a training crop: sliding windows, story segments, and the semantic <-> coarse alignment.

`windowed_semantic` and `windowed_coarse` continue a stream window by window (MusicLM: each later window keeps the
last half window as prefix), change conditioning at story-segment boundaries, and cut the semantic and melody
tokens that cover each coarse window out of the whole streams through the layout's TokenSpec.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from . import sampling
from .layouts import CoarseLayout, Layout, SemanticLayout
from .token_spec import TokenSpec
from .transformer import Transformer


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


def window_joins(layout: Layout, seconds: float) -> list[float]:
    """Seconds at which the sliding windows of `layout`'s target stream meet, over `seconds` of audio."""
    which = layout.target_stream
    total = layout.token_spec.seconds_to(seconds, which)
    return [layout.token_spec.to_seconds(s.start, which) for s in sliding_steps(total, layout.window_frames)[1:]]


def story_segments(conds: list[torch.Tensor], total: int, segment_seconds: float, tokens: TokenSpec,
                   which: str) -> list[tuple[int, int, torch.Tensor]]:
    """(start, end, cond) token ranges of stream `which`: one per story segment of `segment_seconds`, or the whole
    `total` when there is one cond."""
    if len(conds) == 1:
        return [(0, total, conds[0])]
    bounds = [min(total, tokens.seconds_to(i * segment_seconds, which)) for i in range(len(conds))] + [total]
    return [(bounds[i], bounds[i + 1], conds[i]) for i in range(len(conds)) if bounds[i + 1] > bounds[i]]


def pad_right(tokens: torch.Tensor, length: int) -> torch.Tensor:
    """`tokens` [B,T] cut or extended to `length` by repeating the last token (a window that runs past the generated
    semantic stream keeps its length)."""
    if tokens.shape[1] >= length:
        return tokens[:, :length]
    fill = tokens[:, -1:].expand(-1, length - tokens.shape[1])
    return torch.cat([tokens, fill], 1)


def melody_from(melody: torch.Tensor, tokens: TokenSpec, semantic_start: int) -> torch.Tensor:
    """Melody tokens [B,T] from the time of semantic token `semantic_start` on."""
    return melody[:, tokens.semantic_to_melody(semantic_start):]


def windowed_semantic(model: Transformer, layout: SemanticLayout, conds: list[torch.Tensor], seconds: float,
                      segment_seconds: float, *, melody: torch.Tensor | None = None,
                      prompt: torch.Tensor | None = None, cfg_scale: float = 1.0, melody_scale: float = 0.0,
                      candidates: int = 1, generator: torch.Generator | None = None, **settings: Any) -> torch.Tensor:
    """Semantic tokens Long[B,T] for `seconds` after the `prompt` tokens [B,T0] (if any), in sliding windows.

    `conds` holds one cond [B,L] per story segment of `segment_seconds` (or one for the whole clip); `melody` [B,Tm]
    covers prompt + new tokens; `settings` are the sampler's temperature / top_k / top_p. Each window keeps the best
    of `candidates` draws.
    """
    spec = layout.token_spec
    total = max(1, spec.seconds_to(seconds, "semantic"))
    stream = prompt if prompt is not None else torch.zeros((conds[0].shape[0], 0), dtype=torch.long)
    offset = stream.shape[1]
    for seg_start, seg_end, cond in story_segments(conds, total, segment_seconds, spec, "semantic"):
        for step in sliding_steps(seg_end - seg_start, layout.crop_tokens, first_context=stream.shape[1]):
            pos = offset + seg_start + step.start
            prefix = stream[:, pos - step.context:pos] if step.context else None
            mel = melody_from(melody, spec, pos - step.context) if melody is not None else None
            new = sampling.generate_semantic(model, layout, cond, step.end - step.start, prefix=prefix, melody=mel,
                                             cfg_scale=cfg_scale, melody_scale=melody_scale, candidates=candidates,
                                             generator=generator, **settings)
            stream = torch.cat([stream, new], 1)
    return stream[:, offset:]


def windowed_coarse(model: Transformer, layout: CoarseLayout, conds: list[torch.Tensor], semantic: torch.Tensor,
                    seconds: float, segment_seconds: float, *, prompt: torch.Tensor | None = None,
                    sem_prompt: torch.Tensor | None = None, melody: torch.Tensor | None = None,
                    cfg_scale: float = 1.0, melody_scale: float = 0.0, generator: torch.Generator | None = None,
                    **settings: Any) -> torch.Tensor:
    """Coarse codes Long[B,n_coarse,F] for `seconds` after the `prompt` frames [B,n_coarse,F0] (if any), in sliding
    windows.

    Each window reads the semantic tokens of its time span: `semantic` [B,S] follows `sem_prompt` when given, else
    its first token is at the first new frame. `melody` [B,Tm] starts with that semantic stream and reaches the model
    when the layout reads melody.
    """
    spec = layout.token_spec
    total = max(1, spec.seconds_to(seconds, "acoustic"))
    b, q = semantic.shape[0], layout.n_coarse
    stream = prompt if prompt is not None else torch.zeros((b, q, 0), dtype=torch.long)
    offset = stream.shape[2]
    full_sem = torch.cat([sem_prompt, semantic], 1) if sem_prompt is not None else semantic
    sem_offset = 0 if sem_prompt is not None else offset
    for seg_start, seg_end, cond in story_segments(conds, total, segment_seconds, spec, "acoustic"):
        for step in sliding_steps(seg_end - seg_start, layout.window_frames, first_context=stream.shape[2]):
            pos = offset + seg_start + step.start
            frames = step.end - step.start
            s_lo = max(0, spec.acoustic_to_semantic(pos - step.context - sem_offset))
            s_len = spec.acoustic_to_semantic(step.context + frames)
            sem = pad_right(full_sem[:, s_lo:s_lo + s_len], s_len)
            prefix = stream[:, :, pos - step.context:pos] if step.context else None
            mel = melody_from(melody, spec, s_lo) if melody is not None else None
            new = sampling.generate_coarse(model, layout, cond, sem, frames, prefix=prefix, melody=mel,
                                           cfg_scale=cfg_scale, melody_scale=melody_scale, generator=generator,
                                           **settings)
            stream = torch.cat([stream, new], 2)
    return stream[:, :, offset:]
