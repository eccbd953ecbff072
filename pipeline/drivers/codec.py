"""Codec drivers: training the small EnCodec-architecture codec and its reconstruction eval on held-out clips."""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from training.files import atomic_write_text, file_digest

from ..errors import UserError
from ..resume_rule import decide_resume
from ..run_dir import RunDir
from .records import manifest_records

WORK_DIR_NAME = "codec_train"


@dataclass(frozen=True)
class CodecTrainResult:
    """Where the trained codec went, the step reached and the folder holding the training state."""

    path: Path
    step: int
    work_dir: Path


def read_train_clips(manifest: Path, sample_rate: int, split: str = "train") -> list:
    """The manifest's clips of `split` as float16 [T] tensors at `sample_rate`."""
    import torch

    from data_prep.audio_io import load_record_audio

    clips = [load_record_audio(row, sample_rate).to(torch.float16) for row in manifest_records(manifest, split)]
    if not clips:
        raise UserError(f"{manifest} has no split=='{split}' clips to train the codec on")
    return clips


def _read_commands(path: Path) -> list[dict]:
    """The commands that trained this codec so far (none when the file is missing)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def train_codec(rd: RunDir, overrides: list[str], resume: bool, restart: bool, steps: int | None,
                max_minutes: float | None, command: str, say: Callable[[str], None] = print) -> CodecTrainResult:
    """Train (or resume) the codec on the run's train clips; write tokenizers/codec.pt, its checksum and a card.

    `say` gets one line before training starts (size, clips, fresh or resumed).
    """
    from data_prep.codec.train import CodecTrainer

    profile = rd.load_profile(overrides)
    cfg = profile.codec
    if cfg.pretrained is not None:
        raise UserError(f"codec.pretrained={cfg.pretrained!r}: nothing to train (set codec.pretrained=null to train the small codec)")
    work = rd.tokenizers_dir / WORK_DIR_NAME
    clips = read_train_clips(rd.manifest_path, cfg.sample_rate)
    if not decide_resume(resume, restart, (work / "state.pt").is_file(), work) and work.exists():
        shutil.rmtree(work)
    trainer = CodecTrainer(cfg, clips, work)
    resumed = trainer.resume()
    commands = _read_commands(work / "commands.jsonl") + [{"command": command, "from_step": trainer.step}]
    atomic_write_text(work / "commands.jsonl", "".join(json.dumps(c) + "\n" for c in commands))
    say(f"codec: {trainer.tokenizer.num_parameters():,} parameters, {len(clips)} training clips, "
        f"{'resumed at step ' + str(trainer.step) if resumed else 'fresh start'}")
    tokenizer = trainer.train(steps=steps, max_minutes=max_minutes)
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
    return CodecTrainResult(out, trainer.step, work)


def load_eval_clips(manifest: Path, sample_rate: int, limit: int, seconds: float, mono: bool = False) -> list:
    """Held-out clips from the run's manifest as EvalClip objects (mono: only single-voice solo clips)."""
    from data_prep.audio_io import load_record_audio
    from eval.codec_eval import EvalClip, select_clips

    rows = manifest_records(manifest)
    if mono:
        rows = [r for r in rows if (r.get("attributes") or {}).get("voices") == 1]
    rows = select_clips(rows, limit)
    if mono:
        rows = [r for r in rows if len((r.get("attributes") or {}).get("instruments") or []) == 1
                and not (r.get("attributes") or {}).get("drums")]
    if not rows:
        raise UserError(f"{manifest} has no split valid/test clips to evaluate the codec on")
    clips = []
    for row in rows:
        instruments = (row.get("attributes") or {}).get("instruments") or [""]
        wav = load_record_audio(row, sample_rate, max_seconds=seconds)
        voices = int((row.get("attributes") or {}).get("voices") or 0)
        clips.append(EvalClip(id=str(row["id"]), wav=wav, instrument=str(instruments[0]), voices=voices))
    return clips


def eval_codec(rd: RunDir, overrides: list[str], checkpoint: str | None, clips: int, seconds: float, mono: bool,
               untrained: bool, pitch: bool) -> tuple[dict[str, Any], Path]:
    """Score the codec's reconstructions of held-out clips (optionally beside an untrained one of the same config);
    write reports/codec[_mono]/ and return (metrics, report folder)."""
    import torch

    from data_prep.codec import CodecTokenizer
    from eval.codec_eval import evaluate, write_report

    profile = rd.load_profile(overrides)
    torch.set_num_threads(max(1, profile.codec.train.threads))
    path = Path(checkpoint) if checkpoint else rd.tokenizer("codec")
    tokenizer = CodecTokenizer.load(path) if path.is_file() else None
    if tokenizer is None:
        if profile.codec.pretrained is None:
            raise UserError(f"no codec at {path}: run `strata train codec --run {rd.name}` first")
        tokenizer = CodecTokenizer.from_config(profile.codec)
    eval_clips = load_eval_clips(rd.manifest_path, tokenizer.sample_rate, clips, seconds, mono)
    metrics = evaluate(tokenizer, eval_clips, with_pitch=pitch)
    metrics["checkpoint"] = str(path)
    baseline = None
    if untrained:
        torch.manual_seed(profile.codec.train.seed)
        baseline = evaluate(CodecTokenizer.from_config(tokenizer.cfg), eval_clips, with_pitch=pitch)
    out = rd.reports_dir / ("codec_mono" if mono else "codec")
    write_report(out, metrics, tokenizer, eval_clips, untrained=baseline)
    return metrics, out


def codec_snapshots(run: str) -> list[Path]:
    """The codec training snapshots of run `run` (name or path), by step; a UserError when it has none."""
    from eval.codec_curve import snapshot_files

    snapshots = snapshot_files(RunDir.from_arg(run).root)
    if not snapshots:
        raise UserError(f"no codec snapshots in run {run}: train it with codec.train.snapshot_every > 0")
    return snapshots


def eval_codec_timbre(rd: RunDir, checkpoint: str | None, baseline: str | None, judge_clips: int, clips: int,
                      seconds: float, seed: int = 0, curve_runs: list[str] | None = None) -> tuple[dict[str, Any], Path]:
    """Accuracy of one clean-trained judge on held-out clips, clean and after the round trip of the codec (`checkpoint`,
    default the run's), of an optional `baseline` codec file and of every training snapshot of `curve_runs` (then also
    a learning curve), and of a judge fitted on the codec's own round trips; writes reports/codec_timbre/ and returns
    (metrics, report folder)."""
    from data_prep.codec import CodecTokenizer
    from eval.codec_curve import snapshot_step, training_minutes
    from eval.codec_timbre import codec_timbre, write_timbre_curve
    from eval.judge import judge_labels, judge_round_trip_features
    from eval.judge_features import batch_features

    from .records import fixed_length_clips

    checkpoints = {"codec": Path(checkpoint) if checkpoint else rd.tokenizer("codec")}
    if baseline:
        checkpoints["baseline"] = Path(baseline)
    curve_snapshots = {run: codec_snapshots(run) for run in curve_runs or []}
    for run, snapshots in curve_snapshots.items():
        checkpoints.update({f"{run}/{path.stem}": path for path in snapshots})
    tokenizers = {name: CodecTokenizer.load(path) for name, path in checkpoints.items()}
    sr = next(iter(tokenizers.values())).sample_rate
    train = manifest_records(rd.manifest_path, "train")[:judge_clips]
    test = manifest_records(rd.manifest_path, "valid", "test")[:clips]
    if len(train) < 16 or len(test) < 8:
        raise UserError(f"{rd.manifest_path} needs >= 16 train and >= 8 valid/test clips (has {len(train)} and {len(test)})")
    real_test, real_train = fixed_length_clips(test, sr, seconds), fixed_length_clips(train, sr, seconds)
    round_trips = {name: (lambda wav, t=tok: t.decode(t.encode(wav))) for name, tok in tokenizers.items()}
    codec_features = {name: judge_round_trip_features(real_test, sr, trip) for name, trip in round_trips.items()}
    # Only the run's codec gets the codec-trained judge: its train round trips cost as much as scoring a snapshot.
    train_codec = {"codec": judge_round_trip_features(real_train, sr, round_trips["codec"])}
    accuracy = codec_timbre(batch_features(real_train, sr), judge_labels(train), batch_features(real_test, sr),
                            codec_features, judge_labels(test), seed=seed, train_codecs=train_codec)
    metrics = {"accuracy": accuracy, "checkpoints": {name: str(path) for name, path in checkpoints.items()},
               "judge_clips": len(train), "test_clips": len(test), "seconds": seconds}
    out = rd.reports_dir / "codec_timbre"
    out.mkdir(parents=True, exist_ok=True)
    if curve_snapshots:
        curves = {}
        for run, snapshots in curve_snapshots.items():
            minutes_at = training_minutes(RunDir.from_arg(run).root)
            curves[run] = [{"step": snapshot_step(path), "parameters": tokenizers[f"{run}/{path.stem}"].num_parameters(),
                            "minutes": None if minutes_at is None else round(minutes_at(snapshot_step(path)), 1),
                            **accuracy[f"{run}/{path.stem}"]} for path in snapshots]
        metrics["curve"] = curves
        write_timbre_curve(out, curves, accuracy["clean"])
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return metrics, out
