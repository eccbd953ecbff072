"""Sharded, resumable, rank-split token cache writer; the tokenize function is injected so it runs without models.

Layout of a cache folder:
  meta.json                 the contract metadata (rates, vocabulary sizes)
  shard-00000.pt ...        {"shard", "meta", "ids", "records": [token record], "rejects": [{"id", "path", "error"}]}
  rejects.jsonl             every rejected clip of the finished shards, one JSON object a line
Shard i holds records[i*shard_size:(i+1)*shard_size] of the given order; rank r writes the shards with i % world == r.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from training.files import atomic_torch_save, atomic_write_text

from .validate import check_meta, validate_record

log = logging.getLogger(__name__)
TokenizeFn = Callable[[dict[str, Any]], dict[str, Any]]
META_FILE = "meta.json"
REJECTS_FILE = "rejects.jsonl"
RECORD_KEYS = ("cond", "semantic", "acoustic", "melody", "clap", "cond_text")


def shard_path(out_dir: str | os.PathLike, index: int) -> Path:
    """Path of shard `index`."""
    return Path(out_dir) / f"shard-{index:05d}.pt"


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) from the torchrun/deepspeed environment; (0, 1) when run alone."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def plan_shards(n_records: int, shard_size: int, rank: int, world_size: int) -> list[tuple[int, int, int]]:
    """(shard index, start, stop) of every shard this rank owns."""
    if shard_size < 1:
        raise ValueError("shard_size must be at least 1")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside world size {world_size}")
    n_shards = (n_records + shard_size - 1) // shard_size
    return [
        (i, i * shard_size, min(n_records, (i + 1) * shard_size)) for i in range(n_shards) if i % world_size == rank
    ]


def write_cache(
    records: Sequence[dict[str, Any]],
    tokenize_fn: TokenizeFn,
    out_dir: str | os.PathLike,
    shard_size: int,
    rank: int = 0,
    world_size: int = 1,
    meta: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, float]:
    """Tokenize this rank's shards of `records` into `out_dir`, skipping shards already finished for the same meta.

    `tokenize_fn(record)` returns the token fields of one clip; any exception it raises (or an invalid result)
    puts the clip in the rejects list instead of stopping. Returns counts: shards written/skipped, clips, rejects, audio seconds tokenized.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(meta or {})
    check_meta(meta)
    if rank == 0 or not (out / META_FILE).is_file():
        atomic_write_text(out / META_FILE, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    counts: dict[str, float] = {"shards_written": 0, "shards_skipped": 0, "clips": 0, "rejects": 0, "audio_seconds": 0.0}
    plan = plan_shards(len(records), shard_size, rank, world_size)
    for n_done, (index, start, stop) in enumerate(plan):
        chunk = records[start:stop]
        ids = [str(r["id"]) for r in chunk]
        path = shard_path(out, index)
        if shard_is_complete(path, ids, meta):
            counts["shards_skipped"] += 1
        else:
            shard = _tokenize_shard(index, chunk, tokenize_fn, meta)
            atomic_torch_save(shard, path)
            counts["shards_written"] += 1
            counts["clips"] += len(shard["records"])
            counts["rejects"] += len(shard["rejects"])
            counts["audio_seconds"] += sum(r.get("seconds", 0.0) for r in shard["records"])
        if progress is not None:
            progress(n_done + 1, len(plan))
    write_rejects(out)
    return counts


def shard_is_complete(path: Path, ids: list[str], meta: dict[str, Any]) -> bool:
    """True if `path` is a readable shard holding exactly `ids` (kept or rejected) written under the same meta."""
    if not path.is_file():
        return False
    try:
        shard = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        log.warning("shard %s is unreadable; rewriting it", path)
        return False
    done = [r["id"] for r in shard.get("records", [])] + [r["id"] for r in shard.get("rejects", [])]
    return shard.get("meta") == meta and sorted(done) == sorted(ids)


def _tokenize_shard(index: int, chunk: Sequence[dict[str, Any]], tokenize_fn: TokenizeFn, meta: dict[str, Any]) -> dict[str, Any]:
    kept: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    for record in chunk:
        rid = str(record["id"])
        try:
            tokens = tokenize_fn(record)
            seconds = tokens.get("seconds", record.get("seconds"))
            out = {"id": rid, "split": str(record.get("split", "train"))}
            for key in RECORD_KEYS:
                value = tokens.get(key)
                if value is not None:
                    out[key] = value.detach().cpu().contiguous()
            if seconds is not None:
                out["seconds"] = float(seconds)
            validate_record(out, meta, float(seconds) if seconds is not None else None)
        except Exception as exc:  # a bad clip is recorded, never fatal
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.warning("rejected clip %s: %s", rid, message)
            rejects.append({"id": rid, "path": str(record.get("path", "")), "error": message})
            continue
        kept.append(out)
    return {"shard": index, "meta": meta, "ids": [str(r["id"]) for r in chunk], "records": kept, "rejects": rejects}


def write_rejects(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Rebuild rejects.jsonl from the shards present (atomic, so concurrent ranks never leave a torn file)."""
    out = Path(out_dir)
    rejects: list[dict[str, Any]] = []
    for path in sorted(out.glob("shard-*.pt")):
        try:
            rejects.extend(torch.load(path, map_location="cpu", weights_only=True).get("rejects", []))
        except Exception:
            continue
    atomic_write_text(out / REJECTS_FILE, "".join(json.dumps(r) + "\n" for r in rejects))
    return rejects
