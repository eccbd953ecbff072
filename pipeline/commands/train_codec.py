"""`strata train codec --run R`: train the small EnCodec-architecture codec on the run's training audio."""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

from ..errors import UserError
from .common import add_resume_arguments, add_run_argument, resume_decision, run_dir

WORK_DIR_NAME = "codec_train"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata train codec`."""
    add_run_argument(parser)
    parser.add_argument("--steps", type=int, default=None, help="total steps (default: codec.train.steps)")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (checkpointed) after this much wall time")
    add_resume_arguments(parser, "runs/R/tokenizers/codec_train/")


def read_train_clips(manifest: Path, sample_rate: int, split: str = "train") -> list:
    """Load the manifest's clips of `split` as float16 [T] tensors at `sample_rate`."""
    import torch

    from data_prep.audio_io import load_record_audio

    rows = _read_manifest(manifest)
    clips = [load_record_audio(row, sample_rate).to(torch.float16) for row in rows if row.get("split", "train") == split]
    if not clips:
        raise UserError(f"{manifest} has no split=='{split}' clips to train the codec on")
    return clips


def _read_manifest(path: Path) -> list[dict]:
    if not path.is_file():
        raise UserError(f"no training manifest at {path}: create it with `strata data` first")
    try:
        from data_prep.manifest import read_manifest
    except ImportError:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for row in rows:
            audio = Path(row["path"])
            row["path"] = str(audio if audio.is_absolute() else (path.parent / audio))
        return rows
    return read_manifest(path)


def _read_commands(path: Path) -> list[dict]:
    """The commands that trained this codec so far (none when the file is missing)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run(args: argparse.Namespace) -> int:
    """Train (or resume) and write runs/R/tokenizers/codec.pt plus a model card with its checksum."""
    from data_prep.codec.train import CodecTrainer
    from data_prep.files import atomic_write_text, file_digest

    rd = run_dir(args)
    profile = rd.load_profile(args.overrides)
    cfg = profile.codec
    if cfg.pretrained is not None:
        raise UserError(f"codec.pretrained={cfg.pretrained!r}: nothing to train (set codec.pretrained=null to train the small codec)")
    work = rd.tokenizers_dir / WORK_DIR_NAME
    clips = read_train_clips(rd.manifest_path, cfg.sample_rate)
    if not resume_decision(args, (work / "state.pt").is_file(), work) and work.exists():
        shutil.rmtree(work)
    trainer = CodecTrainer(cfg, clips, work)
    resumed = trainer.resume()
    command = "strata " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    commands = _read_commands(work / "commands.jsonl") + [{"command": command, "from_step": trainer.step}]
    atomic_write_text(work / "commands.jsonl", "".join(json.dumps(c) + "\n" for c in commands))
    print(f"codec: {trainer.tokenizer.num_parameters():,} parameters, {len(clips)} training clips, "
          f"{'resumed at step ' + str(trainer.step) if resumed else 'fresh start'}", flush=True)
    tokenizer = trainer.train(steps=args.steps, max_minutes=args.max_minutes)
    out = rd.tokenizer("codec")
    tokenizer.save(out, half=False, checksum=True)
    card = {
        "commands": commands,
        "steps": trainer.step, "seed": cfg.train.seed, "codec_config": asdict(cfg), "data_config": asdict(profile.data),
        "train_clips": len(clips), "parameters": tokenizer.num_parameters(), "sha256": file_digest(out),
        "last_log": trainer.history[-1] if trainer.history else None,
        "file": out.name, "checksum_file": out.name + ".sha256",
    }
    atomic_write_text(rd.tokenizers_dir / "codec.card.json", json.dumps(card, indent=2) + "\n")
    print(f"wrote {out} (step {trainer.step}); training state in {work}")
    return 0
