"""`strata tokenize --run R [--manifest M]`: write the sharded token cache every stage trains from (resumable)."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ..components import load_melody
from ..errors import UserError
from ..run_dir import RunDir
from .common import add_run_argument, run_dir
from .train_semantic import manifest_rows

NEEDED = ("codec", "clap", "rvq", "semantic", "kmeans")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokenize", help="tokenize the run's audio into the sharded token cache", description=__doc__)
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata tokenize`."""
    add_run_argument(parser)
    parser.add_argument("--manifest", default=None, help="manifest to tokenize (default: the run's data/manifest.jsonl)")
    parser.add_argument("--out", default=None, help="cache folder (default: runs/R/cache)")


def load_tokenizers(rd: RunDir, profile: Any) -> tuple[Any, Any, Any, Any]:
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


def fingerprint(rd: RunDir, profile: Any) -> dict[str, str]:
    """sha256 (first 16 hex) of each tokenizer file in use, so shards written with older weights are redone."""
    from data_prep.files import file_digest

    names = list(NEEDED) + (["melody"] if profile.melody.kind == "learned" else [])
    return {name: file_digest(rd.tokenizer(name))[:16] for name in names}


def run(args: argparse.Namespace) -> int:
    """Tokenize this rank's shards (RANK/WORLD_SIZE from torchrun or deepspeed) and report counts and throughput."""
    from data_prep.cache.tokenize import cache_meta, make_tokenize_fn
    from data_prep.cache.writer import rank_and_world, write_cache

    rd = run_dir(args)
    profile = rd.load_profile(args.overrides)
    manifest = Path(args.manifest) if args.manifest else rd.manifest_path
    rows = manifest_rows(manifest)
    codec, cond, semantic, melody = load_tokenizers(rd, profile)
    rank, world = rank_and_world()
    out = Path(args.out) if args.out else rd.cache_dir
    start = time.monotonic()
    counts = write_cache(
        rows, make_tokenize_fn(codec, cond, semantic, melody, profile.cache.caption_variants,
                              profile.cache.free_caption_prob), out,
        profile.cache.shard_size, rank, world,
        meta=dict(cache_meta(codec, cond, semantic, melody), tokenizers=fingerprint(rd, profile),
                  caption_variants=profile.cache.caption_variants),
        progress=lambda done, total: print(f"rank {rank}: shard {done}/{total}", flush=True),
    )
    wall = time.monotonic() - start
    counts["wall_s"] = round(wall, 1)
    print(json.dumps(counts))
    if counts["shards_written"]:
        print(f"rank {rank}/{world}: {counts['audio_seconds'] / max(wall, 1e-9):.1f} s of audio per second; cache at {out}")
    if counts["rejects"]:
        print(f"{counts['rejects']} clips rejected: see {out / 'rejects.jsonl'}")
    return 0
