"""`strata eval clap`: zero-shot attribute accuracy and text-audio agreement on held-out clips, before/after RVQ."""
from __future__ import annotations

import argparse
import json

from ..errors import UserError
from .common import add_run_argument, run_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_argument(parser)
    parser.add_argument("--max-clips", type=int, default=0, help="evaluate at most this many held-out clips (0 = all)")


def run(args: argparse.Namespace) -> int:
    import torch

    from data_prep.audio_io import load_record_audio
    from data_prep.clap.tokenizer import ConditionTokenizer
    from data_prep.clap.train import read_records
    from data_prep.files import atomic_write_text
    from eval.clap_eval import evaluate_clap, report_markdown

    rd = run_dir(args)
    clap_path, rvq_path = rd.tokenizer("clap"), rd.tokenizer("rvq")
    if not clap_path.is_file() or not rvq_path.is_file():
        raise UserError(f"no trained CLAP in {rd.tokenizers_dir}: run `strata train clap --run {rd.name}` first")
    tok = ConditionTokenizer.load(clap_path, rvq_path)
    records = [r for r in read_records(rd.manifest_path) if r.get("split", "test") != "train"]
    if args.max_clips > 0:
        records = records[: args.max_clips]
    if len(records) < 2:
        raise UserError(f"need at least 2 held-out (valid/test) clips in {rd.manifest_path}, found {len(records)}")
    emb = torch.cat([tok.embed_audio(load_record_audio(r, tok.sample_rate, allow_silent=True), tok.sample_rate)
                     for r in records])
    report = evaluate_clap(tok, records, emb)
    out = rd.reports_dir / "clap"
    atomic_write_text(out / "zero_shot.json", json.dumps(report, indent=2) + "\n")
    md = report_markdown(report, rd.name)
    atomic_write_text(out / "zero_shot.md", md)
    print(md, end="")
    print(f"wrote {out / 'zero_shot.json'} and {out / 'zero_shot.md'}")
    return 0
