"""Generation figures of `bench device`: KV-cached autoregressive steps/s per stage and the real-time factor of
semantic + coarse + fine for a clip, with classifier-free guidance, and cached-against-recomputed greedy tokens."""
from __future__ import annotations

import time
from typing import Any, Callable

import torch

from stages.layouts import CoarseLayout, FineLayout, Layout, SemanticLayout
from stages.sampling import generate_coarse, generate_fine, generate_semantic, sample_tokens
from stages.stage import Stage


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device: torch.device, fn: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, float]:
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - start


def generate_clip(stages: dict[str, Stage], seconds: float, batch: int, cfg_scale: float,
                  generator: torch.Generator) -> dict[str, Any]:
    """Sample semantic, coarse and fine tokens for `batch` clips of `seconds`; time and steps of each stage."""
    sem, coarse, fine = stages["semantic"], stages["coarse"], stages["fine"]
    device = sem.model.embed.weight.device
    assert isinstance(sem.layout, SemanticLayout) and isinstance(coarse.layout, CoarseLayout)
    assert isinstance(fine.layout, FineLayout)
    n_sem = sem.layout.token_spec.seconds_to(seconds, "semantic")
    n_frames = coarse.layout.token_spec.seconds_to(seconds, "acoustic")
    cond_levels, cond_bins = sem.layout.vocab.levels("cond"), sem.layout.vocab.bins("cond")
    cond = torch.randint(0, cond_bins, (batch, cond_levels), generator=torch.Generator().manual_seed(0))
    figures: dict[str, Any] = {}
    semantic, secs = _timed(device, lambda: generate_semantic(
        sem.model, sem.layout, cond, n_sem, cfg_scale=cfg_scale, generator=generator, temperature=1.0))
    figures["semantic"] = {"steps": n_sem, "seconds": secs}
    codes, secs = _timed(device, lambda: generate_coarse(
        coarse.model, coarse.layout, cond, semantic, n_frames, cfg_scale=cfg_scale, generator=generator,
        temperature=0.95))
    figures["coarse"] = {"steps": n_frames * coarse.layout.n_coarse, "seconds": secs}
    _, secs = _timed(device, lambda: generate_fine(fine.model, fine.layout, codes, generator=generator,
                                                   temperature=0.4))
    window = min(n_frames, fine.layout.crop_frames)
    figures["fine"] = {"steps": window * fine.layout.n_fine, "seconds": secs}
    for entry in figures.values():
        entry["steps_per_s"] = round(entry["steps"] / entry["seconds"], 2)
        entry["seconds"] = round(entry["seconds"], 4)
    total = sum(entry["seconds"] for entry in figures.values())
    return {"batch": batch, "audio_seconds": seconds, "cfg_scale": cfg_scale, "generation_s": round(total, 4),
            "rtf": round(total / seconds, 4), "stages": figures}


def generation_bench(stages: dict[str, Stage], seconds: float, batches: list[int], cfg_scale: float) -> dict[str, Any]:
    """`generate_clip` at each batch size after one short warm-up clip; the generator lives on the model's device.

    The stages use the flat token order (a frame's levels one after another), which the report names.
    """
    device = stages["semantic"].model.embed.weight.device
    generator = torch.Generator(device=device).manual_seed(0)
    generate_clip(stages, min(seconds, 0.5), 1, cfg_scale, generator)
    runs = [generate_clip(stages, seconds, b, cfg_scale, generator) for b in batches]
    return {"token_order": "flat", "device": str(device), "dtype": str(stages["semantic"].model.embed.weight.dtype),
            "runs": runs}


@torch.no_grad()
def cached_vs_recomputed(stage: Stage, prefix: torch.Tensor, n_tokens: int) -> dict[str, Any]:
    """Greedy tokens from the KV-cached sampler against a loop that re-runs the whole sequence for every token."""
    model, layout = stage.model.eval(), stage.layout
    device = model.embed.weight.device
    cached = sample_tokens(model, prefix, n_tokens, layout.target_span, temperature=0.0)
    seq = prefix.to(device)
    for i in range(n_tokens):
        lo, hi = layout.target_span(i)
        nxt = model(seq)[:, -1, lo:hi].float().argmax(-1) + lo
        seq = torch.cat([seq, nxt[:, None]], 1)
    recomputed = seq[:, prefix.shape[1]:]
    agree = (cached == recomputed).float().mean().item()
    return {"stage": layout.stage, "tokens": n_tokens, "agreement": agree, "identical": bool(agree == 1.0)}


def coarse_prefix(layout: Layout, batch: int, n_semantic: int) -> torch.Tensor:
    """A random coarse-stage sampling prefix (conditioning, semantic tokens, SEP) of `batch` rows."""
    assert isinstance(layout, CoarseLayout)
    g = torch.Generator().manual_seed(1)
    cond = torch.randint(0, layout.vocab.bins("cond"), (batch, layout.vocab.levels("cond")), generator=g)
    sem = torch.randint(0, layout.vocab.bins("semantic"), (batch, n_semantic), generator=g)
    return layout.prefix(cond, sem)
