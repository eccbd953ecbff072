"""`strata eval codec --run R`: codec reconstruction quality on held-out (solo-first) clips."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from .common import add_run_argument, run_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata eval codec`."""
    add_run_argument(parser)
    parser.add_argument("--clips", type=int, default=30, help="held-out clips to evaluate (solo instruments first)")
    parser.add_argument("--seconds", type=float, default=10.0, help="evaluate the first N seconds of each clip")
    parser.add_argument("--checkpoint", default=None, help="codec file to evaluate (default: runs/R/tokenizers/codec.pt)")
    parser.add_argument("--untrained", action="store_true", help="also report a freshly initialised codec of the same config")
    parser.add_argument("--no-pitch", action="store_true", help="skip the pitch tracker (faster)")
    parser.add_argument("--mono", action="store_true", help="only monophonic solo clips (attributes.voices == 1)")


def load_eval_clips(manifest: Path, sample_rate: int, limit: int, seconds: float, mono: bool = False) -> list:
    """Held-out clips from the run's manifest as EvalClip objects (mono: only single-voice solo clips)."""
    from data_prep.audio_io import load_record_audio
    from eval.codec_eval import EvalClip, select_clips

    from .train_codec import _read_manifest

    rows = _read_manifest(manifest)
    if mono:
        rows = [r for r in rows if (r.get("attributes") or {}).get("voices") == 1]
    rows = select_clips(rows, limit)
    if mono:
        rows = [r for r in rows if len((r.get("attributes") or {}).get("instruments") or []) == 1 and not (r.get("attributes") or {}).get("drums")]
    if not rows:
        raise UserError(f"{manifest} has no split valid/test clips to evaluate the codec on")
    clips = []
    for row in rows:
        instruments = (row.get("attributes") or {}).get("instruments") or [""]
        wav = load_record_audio(row, sample_rate, max_seconds=seconds)
        voices = int((row.get("attributes") or {}).get("voices") or 0)
        clips.append(EvalClip(id=str(row["id"]), wav=wav, instrument=str(instruments[0]), voices=voices))
    return clips


def run(args: argparse.Namespace) -> int:
    """Evaluate and write runs/R/reports/codec/{metrics.json,metrics.md,*.png}."""
    import torch

    from data_prep.codec import CodecTokenizer
    from eval.codec_eval import evaluate, write_report

    rd = run_dir(args)
    profile = rd.load_profile(args.overrides)
    torch.set_num_threads(max(1, profile.codec.train.threads))
    path = Path(args.checkpoint) if args.checkpoint else rd.tokenizer("codec")
    tokenizer = CodecTokenizer.load(path) if path.is_file() else None
    if tokenizer is None:
        if profile.codec.pretrained is None:
            raise UserError(f"no codec at {path}: run `strata train codec --run {args.run}` first")
        tokenizer = CodecTokenizer.from_config(profile.codec)
    clips = load_eval_clips(rd.manifest_path, tokenizer.sample_rate, args.clips, args.seconds, args.mono)
    metrics = evaluate(tokenizer, clips, with_pitch=not args.no_pitch)
    metrics["checkpoint"] = str(path)
    untrained = None
    if args.untrained:
        torch.manual_seed(profile.codec.train.seed)
        untrained = evaluate(CodecTokenizer.from_config(tokenizer.cfg), clips, with_pitch=not args.no_pitch)
    out = rd.reports_dir / ("codec_mono" if args.mono else "codec")
    write_report(out, metrics, tokenizer, clips, untrained=untrained)
    s = metrics["summary"]
    print(", ".join(f"{k}={v:.3f}" for k, v in s.items()))
    print(f"wrote {out}/metrics.json, metrics.md and spectrogram PNGs")
    return 0
