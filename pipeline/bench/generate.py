"""Generation benchmark (tiny profile sizes, random weights): real-time factor, stage shares, and what the
KV cache and batched guidance buy, each measured against its baseline in the same process."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..orchestrator import Strata
from ..profile import load_profile
from ..random_run import build_random_run


LAYOUTS = {layout: [f"stages.coarse.layout={layout}", f"stages.fine.layout={layout}"] for layout in ("flat", "delay")}


def bench_generate(quick: bool = False) -> dict[str, Any]:
    """Whole-chain RTF for 10 s (2 s when quick) with flat and with delay coarse/fine layouts, per-stage shares,
    KV-cache and batched-CFG speed-ups, each against its baseline in the same process."""
    torch.set_num_threads(2)
    seconds = 2.0 if quick else 10.0
    with tempfile.TemporaryDirectory() as tmp:
        rtf, shares = {}, {}
        for name, overrides in LAYOUTS.items():
            strata = Strata.from_run(build_random_run(Path(tmp) / name, load_profile("tiny", overrides)))
            strata.generate("warm up", 0.5, seed=0)
            start = time.perf_counter()
            gen = strata.generate("a calm solo piano", seconds, seed=0)
            rtf[name] = round((time.perf_counter() - start) / seconds, 3)
            shares[name] = {k: round(v / sum(gen.timings.values()), 3) for k, v in gen.timings.items()}
        model, layout = strata.stages["semantic"].model, strata.stages["semantic"].layout
        n_tokens = 64 if quick else 200
        prefix = layout.prefix(torch.zeros(1, layout.vocab.levels("cond"), dtype=torch.long), None, n_tokens)
        cached = _best(lambda: _decode_cached(model, prefix, n_tokens))
        recompute = _best(lambda: _decode_recompute(model, prefix, n_tokens))
        batched = _best(lambda: _decode_cached(model, torch.cat([prefix, prefix]), n_tokens))
        separate = _best(lambda: (_decode_cached(model, prefix, n_tokens), _decode_cached(model, prefix, n_tokens)))
    return {
        "audio_seconds": seconds,
        "real_time_factor": rtf["flat"],
        "real_time_factor_delay": rtf["delay"],
        "delay_speedup": round(rtf["flat"] / rtf["delay"], 2),
        "stage_share": shares["flat"],
        "stage_share_delay": shares["delay"],
        "kv_cache_speedup": round(recompute / cached, 2),
        "kv_cache_tokens": n_tokens,
        "batched_cfg_speedup": round(separate / batched, 2),
    }


@torch.inference_mode()
def _decode_cached(model: torch.nn.Module, prefix: torch.Tensor, n: int) -> None:
    cache = model.new_cache(prefix.shape[0], prefix.shape[1] + n)
    logits = model(prefix, cache, 0)[:, -1]
    for i in range(n):
        nxt = logits.argmax(-1, keepdim=True)
        logits = model(nxt, cache, prefix.shape[1] + i)[:, -1]


@torch.inference_mode()
def _decode_recompute(model: torch.nn.Module, prefix: torch.Tensor, n: int) -> None:
    seq = prefix
    for _ in range(n):
        nxt = model(seq)[:, -1].argmax(-1, keepdim=True)
        seq = torch.cat([seq, nxt], 1)


def _best(fn: Callable[[], object], repeats: int = 2) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
