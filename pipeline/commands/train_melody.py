"""`strata train melody`: the learned melody embedding (semi-hard triplets on same-melody sets) and its RVQ."""
from __future__ import annotations

import argparse
import shutil

from ..errors import UserError
from .common import add_resume_arguments, add_run_argument, resume_decision, run_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_argument(parser)
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget for the training loop")
    add_resume_arguments(parser, "runs/R/tokenizers/melody_train/")
    parser.add_argument("--rvq-only", action="store_true", help="keep the trained embedding and only refit its RVQ")


def run(args: argparse.Namespace) -> int:
    from data_prep.clap.train import read_records, split_records
    from data_prep.melody.train import compute_features, fit_melody_rvq, melody_groups, train_melody

    rd = run_dir(args)
    cfg = rd.load_profile(args.overrides).melody
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise UserError("--max-minutes must be positive")
    records = split_records(read_records(rd.manifest_path), "train")
    if not records:
        raise UserError(f"no train-split clips in {rd.manifest_path}: build the corpus with `strata data synth --run {rd.name}`")
    groups, _ = melody_groups(records)
    if not groups:
        print("note: no same-melody groups in the corpus (make them with `strata data synth --melody-pairs K`); "
              "training on augmented self-pairs only")
    work = rd.tokenizers_dir / "melody_train"
    if args.rvq_only and (getattr(args, "resume", False) or getattr(args, "restart", False)):
        raise UserError("--rvq-only trains nothing to resume or restart: drop --resume/--restart")
    if args.rvq_only:
        from data_prep.melody.tokenizer import MelodyTokenizer

        tok = MelodyTokenizer.load(rd.tokenizer("melody"))
        tok.config.rvq_levels, tok.config.rvq_bins = cfg.rvq_levels, cfg.rvq_bins
        fit_set = fit_melody_rvq(tok, compute_features(records, tok.config, work / "features.pt"))
        tok.save(rd.tokenizer("melody"))
        print(f"wrote {rd.tokenizer('melody')} (RVQ {tok.rvq.levels}x{tok.rvq.bins} refitted on {fit_set.shape[0]} windows)")
        return 0
    resume = resume_decision(args, (work / "state.pt").is_file(), work)
    if not resume and work.exists():
        shutil.rmtree(work)
    tok, result = train_melody(cfg, records, work, rd.tokenizer("melody"), args.max_minutes, resume=resume)
    print(f"wrote {rd.tokenizer('melody')} (steps {result.steps}, triplet loss {result.final_loss:.4f}, "
          f"{result.groups} melody groups, RVQ {tok.rvq.levels}x{tok.rvq.bins}, {result.wall_seconds:.0f} s)")
    if cfg.kind != "learned":
        print(f"note: this run's melody.kind is '{cfg.kind}'; stages use learned melody tokens only with melody.kind=learned")
    return 0
