"""Batched autoregressive sampling with the KV cache: temperature/top-k/top-p, classifier-free guidance, seeded.

The prefix is run once (prefill) and never recomputed; each new token is one forward of length 1.
With cfg_scale != 1 the conditional and unconditional (MASK-conditioned) rows go through the model in one batch.
With melody_scale > 0 a third group of rows, conditioned on the text with the melody masked, joins them, and the draw
is pushed further towards what the melody adds: scores = u + cfg_scale (c - u) + melody_scale (c - t).
Delay layouts sample whole steps (`sample_steps`): one forward yields the next step's token of every level.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .candidates import keep_best, text_gain
from .delay_layouts import DRAW, DelayLayout
from .layouts import CoarseLayout, FineLayout, SemanticLayout
from .transformer import Transformer


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 0.0) -> torch.Tensor:
    """Set logits outside the top-k and outside the top-p nucleus to -inf (0 disables either)."""
    if top_k and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if 0.0 < top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop_sorted = (cum - sorted_logits.softmax(-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def pick(logits: torch.Tensor, temperature: float, top_k: int, top_p: float,
         generator: torch.Generator | None) -> torch.Tensor:
    """One id per row of logits [B,V]: argmax when temperature is 0, else a seeded draw."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = filter_logits(logits / temperature, top_k, top_p).softmax(-1)
    if generator is not None and generator.device.type != probs.device.type:
        # A generator draws on its own device only: a host generator with a GPU model samples on the host
        # (one sync per token), so the same seed gives the same draws wherever the model runs.
        return torch.multinomial(probs.float().cpu(), 1, generator=generator).squeeze(-1).to(probs.device)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def guided_scores(scores: torch.Tensor, b: int, cfg_scale: float, melody_scale: float) -> torch.Tensor:
    """Combine the row groups [c; u] or [c; u; t] (b rows each) into guided log-probabilities [b, ...]."""
    logp = F.log_softmax(scores, -1)
    out = logp[b:2 * b] + cfg_scale * (logp[:b] - logp[b:2 * b])
    if melody_scale:
        out = out + melody_scale * (logp[:b] - logp[2 * b:])
    return out


def guidance_rows(prefix: torch.Tensor, uncond_prefix: torch.Tensor | None, cfg_scale: float,
                  text_prefix: torch.Tensor | None, melody_scale: float) -> tuple[list[torch.Tensor], float]:
    """The row groups one draw runs, [c], [c, u] or [c, u, t], and the melody_scale that applies (0 without t rows)."""
    if uncond_prefix is None:
        return [prefix], 0.0
    if text_prefix is not None and melody_scale > 0:
        return [prefix, uncond_prefix, text_prefix], melody_scale
    return ([prefix, uncond_prefix] if cfg_scale != 1.0 else [prefix]), 0.0


@torch.no_grad()
def sample_tokens(model: Transformer, prefix: torch.Tensor, n_tokens: int, span: Callable[[int], tuple[int, int]], *,
                  uncond_prefix: torch.Tensor | None = None, cfg_scale: float = 1.0,
                  text_prefix: torch.Tensor | None = None, melody_scale: float = 0.0, temperature: float = 1.0,
                  top_k: int = 0, top_p: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Append n_tokens joint ids to prefix [B,P]; token i is drawn from the id range span(i). Returns Long[B,n_tokens].

    Only the logits of span(i) are computed, and the prefill projects the last position only. `text_prefix` (the
    prefix with its melody masked) is read only with melody_scale > 0.
    """
    was_training = model.training
    model.eval()
    device = model.embed.weight.device
    b, p = prefix.shape
    groups, melody_scale = guidance_rows(prefix, uncond_prefix, cfg_scale, text_prefix, melody_scale)
    guided = len(groups) > 1
    rows = torch.cat(groups)
    rows = rows.to(device)
    out = torch.empty((b, n_tokens), dtype=torch.long, device=device)
    try:
        cache = model.new_cache(rows.shape[0], p + n_tokens)
        last = torch.zeros(rows.shape, dtype=torch.bool, device=device)
        last[:, -1] = True
        scores = model(rows, cache, 0, select=last, vocab_range=span(0))
        for i in range(n_tokens):
            lo, _ = span(i)
            scores = scores.float()
            if guided:
                scores = guided_scores(scores, b, cfg_scale, melody_scale)
            nxt = pick(scores, temperature, top_k, top_p, generator) + lo
            out[:, i] = nxt
            if i + 1 < n_tokens:
                step = nxt.repeat(len(groups))
                scores = model(step[:, None], cache, p + i, vocab_range=span(i + 1))[:, -1]
    finally:
        model.train(was_training)
    return out


@torch.no_grad()
def sample_steps(model: Transformer, prefix: torch.Tensor, grid: torch.Tensor, head_range: tuple[int, int],
                 levels: int, *, uncond_prefix: torch.Tensor | None = None, uncond_grid: torch.Tensor | None = None,
                 cfg_scale: float = 1.0, text_prefix: torch.Tensor | None = None,
                 text_grid: torch.Tensor | None = None, melody_scale: float = 0.0, temperature: float = 1.0,
                 top_k: int = 0, top_p: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill the DRAW cells of target steps grid [B,N,streams] after prefix steps [B,P,streams]; returns the grid.

    Streams 0..levels-1 of a step are drawn together from one forward, stream q from the q-th of `levels` equal
    slices of head_range; cells that are not DRAW (known codes, PAD) are teacher-forced. Leading steps without a
    DRAW cell are prefilled with the prefix. The unconditional (CFG) rows read the input-only streams after
    `levels` from `uncond_grid` when given, else from `grid`; the melody-masked rows (melody_scale > 0, with
    `text_prefix`) read them from `text_grid`, else from `grid`.
    """
    device = model.embed.weight.device
    b, p, _ = prefix.shape
    n = grid.shape[1]
    lo, hi = head_range
    bins = (hi - lo) // levels
    out = grid.clone().to(device)
    drawn_steps = (out[..., :levels] == DRAW).any(-1).any(0).nonzero()
    start = int(drawn_steps[0]) if drawn_steps.numel() else n
    if start == n:
        return out
    was_training = model.training
    model.eval()
    heads, melody_scale = guidance_rows(prefix, uncond_prefix, cfg_scale, text_prefix, melody_scale)
    guided = len(heads) > 1
    grids = [uncond_grid, text_grid][: len(heads) - 1]
    inputs = [(grid if g is None else g).to(device)[..., levels:] for g in grids]

    def step_rows(lo: int, hi: int) -> torch.Tensor:
        """Steps lo..hi-1 as model input: the cond rows, then the rows of each guidance group with their own inputs."""
        drawn = out[:, lo:hi, :levels]
        return torch.cat([out[:, lo:hi]] + [torch.cat([drawn, extra[:, lo:hi]], -1) for extra in inputs])

    rows = torch.cat([torch.cat(heads).to(device), step_rows(0, start)], 1)
    offsets = lo + bins * torch.arange(levels, device=device)
    try:
        cache = model.new_cache(rows.shape[0], p + n)
        last = torch.zeros(rows.shape[:2], dtype=torch.bool, device=device)
        last[:, -1] = True
        scores = model(rows, cache, 0, select=last, vocab_range=head_range)
        for j in range(start, n):
            scores = scores.float().view(-1, levels, bins)
            if guided:
                scores = guided_scores(scores, b, cfg_scale, melody_scale)
            picked = pick(scores.reshape(b * levels, bins), temperature, top_k, top_p, generator).view(b, levels)
            cells = out[:, j, :levels]
            out[:, j, :levels] = torch.where(cells == DRAW, picked + offsets, cells)
            if j + 1 < n:
                scores = model(step_rows(j, j + 1), cache, p + j, vocab_range=head_range)[:, -1]
    finally:
        model.train(was_training)
    return out


def generate_semantic(model: Transformer, layout: SemanticLayout, cond: torch.Tensor, n_tokens: int, *,
                      prefix: torch.Tensor | None = None, melody: torch.Tensor | None = None, temperature: float = 1.0,
                      top_k: int = 0, top_p: float = 0.0, cfg_scale: float = 1.0, melody_scale: float = 0.0,
                      candidates: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """Semantic tokens Long[B,n_tokens] continuing `prefix` [B,T0] (if any); melody covers prefix + new tokens.

    With candidates K > 1 each row draws K times and keeps the draw of highest text gain (`stages.candidates`).
    """
    if candidates < 1:
        raise ValueError(f"candidates must be >= 1, got {candidates}")
    t0 = 0 if prefix is None else prefix.shape[1]
    head = layout.prefix(cond, melody, t0 + n_tokens)
    uncond = layout.prefix(cond, melody, t0 + n_tokens, uncond=True)
    text = layout.prefix(cond, None, t0 + n_tokens) if melody_scale and melody is not None and layout.has_melody else None
    if prefix is not None:
        cont = layout.flatten(prefix)
        head, uncond = torch.cat([head, cont], 1), torch.cat([uncond, cont], 1)
        text = None if text is None else torch.cat([text, cont], 1)
    if candidates > 1:
        head, uncond = head.repeat_interleave(candidates, 0), uncond.repeat_interleave(candidates, 0)
        text = None if text is None else text.repeat_interleave(candidates, 0)
    flat = sample_tokens(model, head, n_tokens, lambda i: layout.target_span(t0 + i), uncond_prefix=uncond,
                         cfg_scale=cfg_scale, text_prefix=text, melody_scale=melody_scale, temperature=temperature,
                         top_k=top_k, top_p=top_p, generator=generator)
    if candidates > 1:
        flat = keep_best(flat.cpu(), text_gain(model, head, uncond, flat, layout.target_span(t0)), candidates)
    return layout.unflatten(flat).cpu()


def generate_coarse(model: Transformer, layout: CoarseLayout, cond: torch.Tensor, semantic: torch.Tensor, n_frames: int, *,
                    prefix: torch.Tensor | None = None, melody: torch.Tensor | None = None, temperature: float = 0.95,
                    top_k: int = 0, top_p: float = 0.0, cfg_scale: float = 1.0, melody_scale: float = 0.0,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Coarse codes Long[B,n_coarse,n_frames] after `prefix` frames [B,n_coarse,F0]; `semantic` (and `melody`, read
    when the layout does) span F0 + n_frames.

    With a delay layout the prefix frames are teacher-forced into the delayed steps, so windows join exactly.
    """
    q = layout.n_coarse
    head = layout.prefix(cond, semantic, melody=melody)
    uncond = layout.prefix(cond, semantic, uncond=True, melody=melody)
    guide_melody = bool(melody_scale) and melody is not None and layout.has_melody
    text = layout.prefix(cond, semantic) if guide_melody else None
    if isinstance(layout, DelayLayout):
        grid = layout.draw_grid(prefix, n_frames, head.shape[0])
        head, grid_c = layout.attach_aligned(head, grid, semantic, melody)
        uncond, grid_u = layout.attach_aligned(uncond, grid, semantic, melody, uncond=True)
        grid_t = None
        if text is not None:
            text, grid_t = layout.attach_aligned(text, grid, semantic, None)
        steps = sample_steps(model, head, grid_c, layout.head_range(), q, uncond_prefix=uncond, uncond_grid=grid_u,
                             cfg_scale=cfg_scale, text_prefix=text, text_grid=grid_t, melody_scale=melody_scale,
                             temperature=temperature, top_k=top_k, top_p=top_p, generator=generator)
        f0 = 0 if prefix is None else prefix.shape[2]
        return layout.unflatten(steps)[:, :, f0:].cpu()
    t0 = 0
    if prefix is not None:
        cont = layout.flatten(prefix)
        t0 = cont.shape[1]
        head, uncond = torch.cat([head, cont], 1), torch.cat([uncond, cont], 1)
        text = None if text is None else torch.cat([text, cont], 1)
    flat = sample_tokens(model, head, n_frames * q, lambda i: layout.target_span(t0 + i), uncond_prefix=uncond,
                         cfg_scale=cfg_scale, text_prefix=text, melody_scale=melody_scale, temperature=temperature,
                         top_k=top_k, top_p=top_p, generator=generator)
    return layout.unflatten(flat).cpu()


def fine_chunks(n_frames: int, chunk: int) -> list[tuple[int, int, int]]:
    """(start, end, keep_from) windows of `chunk` frames covering n_frames; the last one is shifted back to stay full
    length and only its frames from keep_from on are kept."""
    if n_frames <= chunk:
        return [(0, n_frames, 0)]
    out = [(s, s + chunk, s) for s in range(0, n_frames - chunk + 1, chunk)]
    covered = out[-1][1]
    if covered < n_frames:
        out.append((n_frames - chunk, n_frames, covered))
    return out


def generate_fine(model: Transformer, layout: FineLayout, coarse: torch.Tensor, *, temperature: float = 0.4,
                  top_k: int = 0, top_p: float = 0.0, generator: torch.Generator | None = None,
                  max_rows: int = 64) -> torch.Tensor:
    """Fine codes Long[B,n_fine,F] for coarse [B,n_coarse,F], in windows of the training crop batched together."""
    b, _, n_frames = coarse.shape
    windows = fine_chunks(n_frames, layout.crop_frames)
    length = windows[0][1] - windows[0][0]
    pieces = torch.cat([coarse[:, :, s:e] for s, e, _ in windows])  # [len(windows)*B, n_coarse, length]
    q = layout.n_fine
    results = []
    for r in range(0, pieces.shape[0], max_rows):
        head = layout.prefix(pieces[r:r + max_rows])
        if isinstance(layout, DelayLayout):
            grid = layout.draw_grid(None, length, head.shape[0])
            flat = sample_steps(model, head, grid, layout.head_range(), q, temperature=temperature, top_k=top_k,
                                top_p=top_p, generator=generator)
        else:
            flat = sample_tokens(model, head, length * q, layout.target_span,
                                 temperature=temperature, top_k=top_k, top_p=top_p, generator=generator)
        results.append(layout.unflatten(flat).cpu())
    fine = torch.cat(results).view(len(windows), b, q, length)
    out = torch.empty((b, q, n_frames), dtype=torch.long)
    for w, (s, e, keep) in enumerate(windows):
        out[:, :, keep:e] = fine[w, :, :, keep - s:]
    return out

