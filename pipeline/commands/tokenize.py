"""`strata tokenize --run R [--manifest M]`: write the sharded token cache every stage trains from (resumable)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..drivers.token_cache import refresh_text_run, tokenize_run
from .common import add_run_argument, run_dir


def register(sub: argparse._SubParsersAction) -> None:
    """Add `strata tokenize` to the CLI."""
    p = sub.add_parser("tokenize", help="tokenize the run's audio into the sharded token cache", description=__doc__)
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata tokenize`."""
    add_run_argument(parser)
    parser.add_argument("--manifest", default=None, help="manifest to tokenize (default: the run's data/manifest.jsonl)")
    parser.add_argument("--out", default=None, help="cache folder (default: runs/R/cache)")
    parser.add_argument("--text-only", action="store_true",
                        help="after `strata train clap --text-only`: re-derive only the cached text tokens (seconds, "
                             "no audio re-encoded)")


def run(args: argparse.Namespace) -> int:
    """Tokenize this rank's shards (RANK/WORLD_SIZE from torchrun or deepspeed) and report counts and throughput."""
    if args.text_only:
        out = Path(args.out) if args.out else None
        count = refresh_text_run(run_dir(args), args.overrides, Path(args.manifest) if args.manifest else None, out)
        print(f"rewrote the text tokens of {count} shards")
        return 0
    result = tokenize_run(run_dir(args), args.overrides, Path(args.manifest) if args.manifest else None,
                          Path(args.out) if args.out else None,
                          progress=lambda rank, done, total: print(f"rank {rank}: shard {done}/{total}", flush=True))
    counts = result.counts
    print(json.dumps(counts))
    if counts["shards_written"]:
        print(f"rank {result.rank}/{result.world}: {counts['audio_seconds'] / max(result.wall, 1e-9):.1f} s of audio "
              f"per second; cache at {result.out}")
    if counts["rejects"]:
        print(f"{counts['rejects']} clips rejected: see {result.out / 'rejects.jsonl'}")
    return 0
