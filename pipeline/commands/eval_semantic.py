"""`strata eval semantic --run R`: NMI of semantic tokens with pitch class and instrument family, SSL vs log-mel."""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time

from ..errors import UserError
from .common import add_run_argument, run_dir
from .train_semantic import manifest_rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata eval semantic`."""
    add_run_argument(parser)
    parser.add_argument("--train-clips", type=int, default=150, help="train clips sampled to fit statistics + k-means per source")
    parser.add_argument("--eval-clips", type=int, default=120, help="held-out (valid/test) clips scored")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clip sample")


def _warn(path: str, exc: Exception) -> None:
    print(f"skipping {path}: {exc}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Fit each available source on the same train clips, score the held-out clips, write reports/semantic/."""
    from data_prep.files import atomic_write_text
    from data_prep.semantic.tokenizer import SemanticTokenizer
    from data_prep.semantic.train_ssl import load_clips
    from eval.semantic_eval import best_source, compare_sources, markdown

    rd = run_dir(args)
    cfg = rd.load_profile(args.overrides).semantic
    rng = random.Random(args.seed)
    train_rows = manifest_rows(rd.manifest_path, "train")
    held = [r for r in manifest_rows(rd.manifest_path) if r.get("split") in ("valid", "test")]
    if not held:
        raise UserError(f"{rd.manifest_path} has no valid/test clips to evaluate on")
    train_rows = rng.sample(train_rows, min(args.train_clips, len(train_rows)))
    held = rng.sample(held, min(args.eval_clips, len(held)))
    train_clips = load_clips(train_rows, cfg.sample_rate, on_error=_warn)
    held_ok, held_clips = [], []
    for row in held:
        clips = load_clips([row], cfg.sample_rate, on_error=_warn)
        if clips:
            held_ok.append(row)
            held_clips.append(clips[0])
    sources = {"mel": SemanticTokenizer.from_config(dataclasses.replace(cfg, source="mel"))}
    sem_path = rd.tokenizer("semantic")
    if cfg.pretrained:
        sources["ssl"] = SemanticTokenizer.from_config(dataclasses.replace(cfg, source="ssl"))
    elif sem_path.is_file():
        saved = SemanticTokenizer.load(sem_path)
        if saved.cfg.source == "ssl":
            saved.extractor.cfg.kmeans = cfg.kmeans
            sources["ssl"] = saved
    start = time.monotonic()
    report = {"sources": compare_sources(sources, train_clips, held_clips, held_ok, cfg.sample_rate)}
    if sem_path.is_file() and rd.tokenizer("kmeans").is_file():
        saved = SemanticTokenizer.load(sem_path, rd.tokenizer("kmeans"))
        report["sources"][f"saved ({saved.cfg.source})"] = compare_sources(
            {"saved": saved}, [], held_clips, held_ok, cfg.sample_rate, fit=False)["saved"]
    report.update(best=best_source({k: v for k, v in report["sources"].items() if not k.startswith("saved")}),
                  train_clips=len(train_clips), eval_clips=len(held_clips), seed=args.seed,
                  clusters=cfg.kmeans.clusters, wall_s=round(time.monotonic() - start, 1))
    out = rd.reports_dir / "semantic"
    atomic_write_text(out / "nmi.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(out / "nmi.md", markdown(report))
    print(markdown(report))
    print(f"wrote {out / 'nmi.json'} and {out / 'nmi.md'}")
    return 0
