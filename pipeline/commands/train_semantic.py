"""`strata train semantic-ssl --run R`: pretrain the small fairseq2 wav2vec 2.0 on the run's training audio (resumable)."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import UserError
from .common import add_resume_arguments, add_run_argument, resume_decision, run_dir

WORK_DIR_NAME = "semantic_train"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata train semantic-ssl`."""
    add_run_argument(parser)
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (checkpointed) after this much wall time")
    add_resume_arguments(parser, "runs/R/tokenizers/semantic_train/")


def manifest_rows(manifest: Path, split: str | None = None) -> list[dict[str, Any]]:
    """Manifest records (absolute paths), optionally of one split; a UserError if the manifest is missing."""
    if not manifest.is_file():
        raise UserError(f"no manifest at {manifest}: create it with `strata data synth --run R` or `strata data manifest`")
    from data_prep.manifest import read_manifest

    rows = read_manifest(manifest)
    return [r for r in rows if split is None or r.get("split", "train") == split]


def load_split_clips(manifest: Path, sample_rate: int, split: str = "train") -> list:
    """Mono clips of one split at `sample_rate`; unreadable files are skipped with a warning."""
    from data_prep.semantic.train_ssl import load_clips

    rows = manifest_rows(manifest, split)
    clips = load_clips(rows, sample_rate, on_error=lambda p, e: print(f"skipping {p}: {e}", file=sys.stderr))
    if not clips:
        raise UserError(f"{manifest} has no readable split=='{split}' clips")
    return clips


def run(args: argparse.Namespace) -> int:
    """Train (or resume) and, once all steps are done, write runs/R/tokenizers/semantic.pt."""
    from data_prep.semantic.train_ssl import STATE_FILE, train_ssl

    rd = run_dir(args)
    cfg = rd.load_profile(args.overrides).semantic
    if cfg.source != "ssl":
        raise UserError("semantic.source=mel needs no SSL training: run `strata train kmeans --run R` directly")
    if cfg.pretrained:
        raise UserError(f"semantic.pretrained={cfg.pretrained!r} is set: nothing to train (run `strata train kmeans`)")
    start = time.monotonic()
    clips = load_split_clips(rd.manifest_path, cfg.sample_rate)
    out = rd.tokenizer("semantic")
    work = rd.tokenizers_dir / WORK_DIR_NAME
    resume = resume_decision(args, (work / STATE_FILE).is_file(), work)
    result = train_ssl(cfg, clips, work, out, max_minutes=args.max_minutes, restart=not resume)
    card = {
        "command": "strata " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "result": result, "seed": cfg.train.seed, "train_clips": len(clips),
        "wall_s": round(time.monotonic() - start, 1), "semantic_config": asdict(cfg),
    }
    from data_prep.files import atomic_write_text

    atomic_write_text(rd.tokenizers_dir / "semantic_train.card.json", json.dumps(card, indent=2) + "\n")
    if result["finished"]:
        print(f"wrote {out} (step {int(result['step'])}, loss {result['loss']:.3f}); now run `strata train kmeans --run {args.run}`")
    else:
        print(f"stopped at step {int(result['step'])}/{cfg.train.steps} (time budget); wrote {out} from the current weights; "
              "re-run to resume")
    return 0
