"""Re-deriving a cache's text tokens after a text-only CLAP fine-tune, without re-encoding any audio.

`strata train clap --text-only` leaves the audio tower, the RVQ and so every audio-derived field unchanged; only
"cond_text" (the tokens of each clip's caption phrasings) goes stale. Shards are rewritten one at a time, atomically,
and a shard already carrying the new metadata is skipped, so an interrupted refresh resumes.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch

from training.files import atomic_torch_save, atomic_write_text

from ..errors import DataError
from .tokenize import caption_variants
from .writer import META_FILE

TextTokens = Callable[[list[str]], torch.Tensor]
AudioCond = Callable[[dict[str, Any]], torch.Tensor]


def refresh_text_tokens(cache_dir: str | Path, manifest: dict[str, dict[str, Any]], meta: dict[str, Any],
                        text_tokens: TextTokens, audio_cond: AudioCond, free_prob: float) -> int:
    """Rewrite every shard's cond_text with `text_tokens` and its metadata with `meta`; returns the shards rewritten.

    `meta` may differ from the cache's only in its CLAP fingerprint; `audio_cond` re-derives the audio conditioning
    tokens of each shard's first record, which must match the cached ones (else the audio tower changed too).
    """
    root = Path(cache_dir)
    if not (root / META_FILE).is_file():
        raise DataError(f"no token cache at {root}: run `strata tokenize` first")
    old = json.loads((root / META_FILE).read_text())
    if _without_clap(old) != _without_clap(meta):
        raise DataError(f"{root} was written with other tokenizers or settings than the CLAP text tower alone: "
                        "run `strata tokenize` without --text-only")
    atomic_write_text(root / META_FILE, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    rewritten = 0
    for path in sorted(root.glob("shard-*.pt")):
        shard = torch.load(path, map_location="cpu", weights_only=True)
        if shard.get("meta") == meta:
            continue
        records = shard["records"]
        if records and not torch.equal(audio_cond(_source(manifest, records[0]["id"])), records[0]["cond"]):
            raise DataError(f"{path}: the CLAP audio tokens changed, so the audio tower is not the one the cache was "
                            "written with: run `strata tokenize` without --text-only")
        for record in records:
            texts = caption_variants(_source(manifest, record["id"]), meta["caption_variants"], free_prob)
            if texts:
                record["cond_text"] = text_tokens(texts).long()
        shard["meta"] = meta
        atomic_torch_save(shard, path)
        rewritten += 1
    return rewritten


def _without_clap(meta: dict[str, Any]) -> dict[str, Any]:
    return dict(meta, tokenizers={k: v for k, v in meta.get("tokenizers", {}).items() if k != "clap"})


def _source(manifest: dict[str, dict[str, Any]], clip_id: str) -> dict[str, Any]:
    if clip_id not in manifest:
        raise DataError(f"cached clip {clip_id} is not in the manifest: run `strata tokenize` without --text-only")
    return manifest[clip_id]
