"""`strata train clap`: the small CLAP (contrastive, on the run's train split) and the conditioning RVQ."""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import time

from ..errors import UserError
from .common import add_resume_arguments, add_run_argument, resume_decision, run_dir

log = logging.getLogger("strata.clap")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_argument(parser)
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget for the training loop")
    add_resume_arguments(parser, "runs/R/tokenizers/clap_train/")
    parser.add_argument("--rvq-only", action="store_true", help="keep the trained clap.pt and only refit the RVQ")


def run(args: argparse.Namespace) -> int:
    from data_prep.clap.tokenizer import ConditionTokenizer
    import torch

    from data_prep.clap.train import (compute_mels, crop_embeddings, fit_rvq, mel_embeddings, read_records,
                                      split_records, train_small_clap)
    from data_prep.files import atomic_write_text
    from data_prep.rvq import stats_dict

    rd = run_dir(args)
    profile = rd.load_profile(args.overrides)
    cfg, rvq_cfg = profile.clap, profile.rvq
    work = rd.tokenizers_dir / "clap_train"
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise UserError("--max-minutes must be positive")
    records = split_records(read_records(rd.manifest_path), "train")
    if not records:
        raise UserError(f"no train-split clips in {rd.manifest_path}: build the corpus with `strata data synth --run {rd.name}`")
    start = time.monotonic()
    extra = None
    if args.rvq_only and (getattr(args, "resume", False) or getattr(args, "restart", False)):
        raise UserError("--rvq-only trains nothing to resume or restart: drop --resume/--restart")
    if args.rvq_only:
        if not rd.tokenizer("clap").is_file():
            raise UserError(f"--rvq-only needs a trained {rd.tokenizer('clap')}: run `strata train clap --run {rd.name}`")
        tok = ConditionTokenizer.load(rd.tokenizer("clap"))
        if tok.kind == "official":
            embeddings = _official_embeddings(tok, records)
        else:
            mels = compute_mels(tok, records, work / "mels.pt")
            embeddings, extra = mel_embeddings(tok, mels), crop_embeddings(tok, mels, rvq_cfg.fit_crops, rvq_cfg.seed)
        summary = {"kind": tok.kind, "rvq_only": True}
    elif cfg.pretrained:
        tok = ConditionTokenizer.official(cfg)
        tok.save(rd.tokenizer("clap"))
        embeddings = _official_embeddings(tok, records)
        summary = {"kind": "official", "checkpoint": cfg.pretrained}
    else:
        resume = resume_decision(args, (work / "state.pt").is_file(), work)
        if not resume and work.exists():
            shutil.rmtree(work)
        tok, result = train_small_clap(cfg, records, work, rd.tokenizer("clap"), args.max_minutes, resume=resume)
        mels = compute_mels(tok, records, work / "mels.pt")
        embeddings, extra = mel_embeddings(tok, mels), crop_embeddings(tok, mels, rvq_cfg.fit_crops, rvq_cfg.seed)
        summary = {"kind": "small", "steps": result.steps, "final_loss": round(result.final_loss, 4),
                   "finished": result.finished, "train_clips": result.train_clips,
                   "seed": cfg.train.seed, "train_seconds": round(result.wall_seconds, 1)}
    fit_set = embeddings if extra is None else torch.cat([embeddings, extra])
    rvq = fit_rvq(fit_set, rvq_cfg, rd.tokenizer("rvq"))
    summary["rvq"] = {"levels": rvq.levels, "bins": rvq.bins, "fit_vectors": int(fit_set.shape[0]),
                      **stats_dict(rvq.stats(embeddings))}
    summary["wall_seconds"] = round(time.monotonic() - start, 1)
    report = "rvq_report.json" if args.rvq_only else "train_report.json"
    atomic_write_text(work / report, json.dumps(summary, indent=2) + "\n")
    wrote = rd.tokenizer("rvq") if args.rvq_only else f"{rd.tokenizer('clap')} and {rd.tokenizer('rvq')}"
    print(f"wrote {wrote} "
          f"(steps {summary.get('steps', '-')}, RVQ relative MSE {summary['rvq']['relative_mse']:.4f}, "
          f"{summary['wall_seconds']:.0f} s)")
    return 0


def _official_embeddings(tok, records: list[dict]):
    """Train-clip embeddings from the official model (slow on CPU: one forward per 10 s window)."""
    import torch

    from data_prep.audio_io import load_record_audio

    rows = [tok.embed_audio(load_record_audio(r, tok.sample_rate, allow_silent=True), tok.sample_rate) for r in records]
    return torch.cat(rows)
