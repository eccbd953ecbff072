"""`strata eval melody`: cross-instrument melody retrieval (R@1 among N), learned embedding vs chroma argmax."""
from __future__ import annotations

import argparse
import json

from ..errors import UserError
from .common import add_run_argument, run_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_argument(parser)
    parser.add_argument("--split", default="heldout", choices=["heldout", "train", "all"],
                        help="which same-melody groups to query (default: valid + test)")
    parser.add_argument("--distractors", type=int, default=100,
                        help="add up to this many unpaired clips of the split as extra candidates (default 100)")


def run(args: argparse.Namespace) -> int:
    from data_prep.audio_io import load_record_audio
    from data_prep.clap.train import read_records
    from data_prep.files import atomic_write_text
    from data_prep.melody.tokenizer import MelodyTokenizer
    from data_prep.melody.train import melody_groups
    from eval.melody_eval import report_markdown, retrieval_report

    rd = run_dir(args)
    cfg = rd.load_profile(args.overrides).melody
    records = read_records(rd.manifest_path)
    if args.split == "heldout":
        records = [r for r in records if r.get("split") != "train"]
    elif args.split == "train":
        records = [r for r in records if r.get("split") == "train"]
    groups, _ = melody_groups(records)
    grouped = {i for g in groups for i in g}
    extra = [r for i, r in enumerate(records) if i not in grouped][: max(0, args.distractors)]
    chosen = [records[i] for g in groups for i in g] + extra
    if len(groups) < 2:
        raise UserError(f"need at least 2 same-melody groups in the {args.split} split of {rd.manifest_path}, found "
                        f"{len(groups)}: regenerate with `strata data synth --melody-pairs K` (or try --split all)")
    learned = MelodyTokenizer.load(rd.tokenizer("melody")) if rd.tokenizer("melody").is_file() else None
    base_cfg = learned.config if learned is not None else cfg
    chroma = MelodyTokenizer.chroma(base_cfg)
    sr = base_cfg.sample_rate
    wavs = [load_record_audio(r, sr, allow_silent=True) for r in chosen]
    report = retrieval_report(learned, chroma, chosen, wavs, sr, distractors=len(extra))
    report["split"] = args.split
    out = rd.reports_dir / "melody"
    atomic_write_text(out / "retrieval.json", json.dumps(report, indent=2) + "\n")
    md = report_markdown(report, rd.name)
    if learned is None:
        md += f"\nNo learned melody tokenizer in {rd.tokenizers_dir}: run `strata train melody --run {rd.name}`.\n"
    atomic_write_text(out / "retrieval.md", md)
    print(md, end="")
    print(f"wrote {out / 'retrieval.json'} and {out / 'retrieval.md'}")
    return 0
