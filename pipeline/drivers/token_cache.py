"""The token-cache driver: tokenize a manifest with the run's tokenizers into the sharded cache the stages train from."""
from __future__ import annotations

import time
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable

from training.files import file_digest

from ..components import load_melody
from ..errors import UserError
from ..profile import Profile
from ..run_dir import RunDir
from .records import manifest_records

NEEDED = ("codec", "clap", "rvq", "semantic", "kmeans")


@dataclass(frozen=True)
class TokenizeResult:
    """The cache writer's counts (with wall_s), this process's rank and world size, the cache folder and the wall time."""

    counts: dict[str, Any]
    rank: int
    world: int
    out: Path
    wall: float


def load_tokenizers(rd: RunDir, profile: Profile) -> tuple[Any, Any, Any, Any]:
    """(codec, condition, semantic, melody-or-None) from the run's tokenizers folder; a UserError naming what is missing."""
    missing = [n for n in NEEDED if not rd.tokenizer(n).is_file()]
    if missing:
        raise UserError(f"missing {', '.join(str(rd.tokenizer(n)) for n in missing)}: train them first "
                        "(strata train codec / clap / semantic-ssl / kmeans)")
    from data_prep.clap.tokenizer import ConditionTokenizer
    from data_prep.codec.tokenizer import CodecTokenizer
    from data_prep.semantic.tokenizer import SemanticTokenizer

    codec = CodecTokenizer.load(rd.tokenizer("codec"))
    cond = ConditionTokenizer.load(rd.tokenizer("clap"), rd.tokenizer("rvq"))
    semantic = SemanticTokenizer.load(rd.tokenizer("semantic"), rd.tokenizer("kmeans"))
    return codec, cond, semantic, load_melody(rd, profile)


def fingerprint(rd: RunDir, profile: Profile) -> dict[str, str]:
    """sha256 (first 16 hex) of each tokenizer file in use, so shards written with older weights are redone."""
    names = list(NEEDED) + (["melody"] if profile.melody.kind == "learned" else [])
    return {name: file_digest(rd.tokenizer(name))[:16] for name in names}


def tokenize_run(rd: RunDir, overrides: list[str], manifest: Path | None = None, out: Path | None = None,
                 progress: Callable[[int, int, int], None] | None = None) -> TokenizeResult:
    """Tokenize this rank's shards (RANK/WORLD_SIZE from torchrun or deepspeed) of `manifest` (default: the run's)
    into `out` (default: runs/R/cache).

    `progress(rank, done, total)` is called after each shard.
    """
    from data_prep.cache.tokenize import cache_meta, make_tokenize_fn
    from data_prep.cache.writer import rank_and_world, write_cache

    profile = rd.load_profile(overrides)
    rows = manifest_records(manifest or rd.manifest_path)
    codec, cond, semantic, melody = load_tokenizers(rd, profile)
    rank, world = rank_and_world()
    out = out or rd.cache_dir
    start = time.monotonic()
    counts = write_cache(
        rows, make_tokenize_fn(codec, cond, semantic, melody, profile.cache.caption_variants,
                              profile.cache.free_caption_prob), out,
        profile.cache.shard_size, rank, world,
        meta=dict(cache_meta(codec, cond, semantic, melody), tokenizers=fingerprint(rd, profile),
                  caption_variants=profile.cache.caption_variants),
        progress=(lambda done, total: progress(rank, done, total)) if progress else None,
    )
    wall = time.monotonic() - start
    counts["wall_s"] = round(wall, 1)
    return TokenizeResult(counts, rank, world, out, wall)


def refresh_text_run(rd: RunDir, overrides: list[str], manifest: Path | None = None, out: Path | None = None) -> int:
    """Re-derive only the cached text tokens after `strata train clap --text-only`; returns the shards rewritten."""
    import json

    from data_prep.audio_io import load_record_audio
    from data_prep.cache.text_refresh import refresh_text_tokens
    from data_prep.clap import ConditionTokenizer
    from data_prep.errors import DataError

    profile = rd.load_profile(overrides)
    out = out or rd.cache_dir
    cond = ConditionTokenizer.load(rd.tokenizer("clap"), rd.tokenizer("rvq"))
    try:
        old = json.loads((out / "meta.json").read_text())
    except FileNotFoundError:
        raise UserError(f"no token cache at {out}: run `strata tokenize --run {rd.name}` first") from None
    meta = dict(old, tokenizers=fingerprint(rd, profile), caption_variants=profile.cache.caption_variants)

    rate = int(old["sample_rate"])  # the rate tokenize loaded audio at (the codec's), so resampling matches

    def audio_cond(record: dict[str, Any]) -> Any:
        return cond.audio_tokens(load_record_audio(record, rate)[None], rate)[0].long()

    rows = {str(r["id"]): r for r in manifest_records(manifest or rd.manifest_path)}
    try:
        return refresh_text_tokens(out, rows, meta, cond.text_tokens, audio_cond, profile.cache.free_caption_prob)
    except DataError as exc:
        raise UserError(str(exc)) from None
