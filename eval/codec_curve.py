"""Codec learning curve: pitch agreement and mel distance of each training snapshot on held-out solo clips.

Usage: python -m eval.codec_curve RUN_DIR [--clips 30] [--seconds 4] [--every 1] [--watch-minutes M]
Reads RUN_DIR/tokenizers/codec_train/snapshots/step_*.pt (written by `strata train codec`), caches results per
snapshot in RUN_DIR/reports/codec_curve/curve.json, and writes curve.md and curve.png there.
"""
from __future__ import annotations

import argparse
import bisect
import json
import sys
import time
from pathlib import Path
from typing import Callable

import torch

from data_prep.audio_io import load_record_audio
from data_prep.codec import CodecTokenizer
from data_prep.manifest import read_manifest
from training.files import atomic_write_text

from .codec_eval import EvalClip, evaluate, select_clips


def held_out_clips(manifest: Path, sample_rate: int, limit: int, seconds: float) -> list[EvalClip]:
    """The first `seconds` of up to `limit` held-out solo clips (instruments spread round-robin)."""
    clips = []
    for row in select_clips(read_manifest(manifest), limit):
        instruments = (row.get("attributes") or {}).get("instruments") or [""]
        clips.append(EvalClip(str(row["id"]), load_record_audio(row, sample_rate, max_seconds=seconds), str(instruments[0])))
    return clips


def snapshot_step(path: Path) -> int:
    """Training step encoded in a snapshot file name (step_0001234.pt)."""
    return int(path.stem.split("_")[-1])


def snapshot_files(run_dir: Path) -> list[Path]:
    """The codec training snapshots of a run folder (written by `strata train codec`), by step."""
    return sorted((run_dir / "tokenizers" / "codec_train" / "snapshots").glob("step_*.pt"), key=snapshot_step)


def update_curve(run_dir: Path, clips: int, seconds: float, every: int = 1, tracks: dict | None = None) -> list[dict]:
    """Evaluate snapshots not yet in curve.json; returns all points sorted by step (tracks caches original pitch)."""
    out_dir = run_dir / "reports" / "codec_curve"
    cache_path = out_dir / "curve.json"
    points = {p["step"]: p for p in json.loads(cache_path.read_text())["points"]} if cache_path.is_file() else {}
    snapshots = snapshot_files(run_dir)
    snapshots = [s for i, s in enumerate(snapshots) if i % max(1, every) == 0 or i == len(snapshots) - 1]
    todo = [s for s in snapshots if snapshot_step(s) not in points]
    if todo:
        clip_list = held_out_clips(run_dir / "data" / "manifest.jsonl", 24000, clips, seconds)
        tracks = {} if tracks is None else tracks
        for snap in todo:
            start = time.monotonic()
            metrics = evaluate(CodecTokenizer.load(snap), clip_list, with_pitch=True, ref_tracks=tracks)
            s = metrics["summary"]
            points[snapshot_step(snap)] = {
                "step": snapshot_step(snap), "pitch_full": s["pitch_full"], "pitch_coarse": s["pitch_coarse"],
                "mel_full": s["mel_full"], "mel_coarse": s["mel_coarse"], "si_sdr_full": s["si_sdr_full"],
                "perplexity_per_level": metrics["perplexity_per_level"], "dead_levels": metrics["dead_levels"],
                "clips": len(clip_list), "seconds": seconds, "eval_s": round(time.monotonic() - start, 1),
                "snapshot_mtime": snap.stat().st_mtime,
            }
            _write(out_dir, sorted(points.values(), key=lambda p: p["step"]), training_minutes(run_dir))
            print(json.dumps({k: v for k, v in points[snapshot_step(snap)].items() if k != "perplexity_per_level"}), flush=True)
    return sorted(points.values(), key=lambda p: p["step"])


def training_minutes(run_dir: Path) -> Callable[[int], float] | None:
    """Training wall minutes at a step, summed from the trainer's log.jsonl rates (pauses between resumed runs do
    not count); None without a logged rate."""
    path = run_dir / "tokenizers" / "codec_train" / "log.jsonl"
    if not path.is_file():
        return None
    steps, minutes, per_minute = [0], [0.0], []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        step, rate = int(row.get("step", 0)), float(row.get("steps_per_s") or 0.0)
        if step <= steps[-1] or rate <= 0:
            continue
        per_minute.append(rate * 60.0)
        minutes.append(minutes[-1] + (step - steps[-1]) / per_minute[-1])
        steps.append(step)
    if not per_minute:
        return None

    def at(step: int) -> float:
        i = max(0, bisect.bisect_right(steps, step) - 1)
        return minutes[i] + (step - steps[i]) / per_minute[min(i, len(per_minute) - 1)]

    return at


def _write(out_dir: Path, points: list[dict], minutes_at: Callable[[int], float] | None = None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "curve.json", json.dumps({"points": points}, indent=2) + "\n")
    source = "training wall time from the trainer's logged step rate (pauses between resumed runs excluded)"
    if minutes_at is None:
        t0 = min(p["snapshot_mtime"] for p in points)
        minutes_at = {p["step"]: (p["snapshot_mtime"] - t0) / 60 for p in points}.__getitem__
        source = "time between snapshot files (pauses between resumed runs included)"
    lines = ["# Codec learning curve (held-out solo clips)", "", f"minutes: {source}.", "",
             "| step | minutes | pitch full | pitch coarse | mel full | mel coarse | min perplexity |", "|---|---|---|---|---|---|---|"]
    for p in points:
        lines.append(f"| {p['step']} | {minutes_at(p['step']):.1f} | {p['pitch_full']:.3f} | {p['pitch_coarse']:.3f} | "
                     f"{p['mel_full']:.3f} | {p['mel_coarse']:.3f} | {min(p['perplexity_per_level']):.0f} |")
    atomic_write_text(out_dir / "curve.md", "\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [p["step"] for p in points]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    a.plot(steps, [p["pitch_full"] for p in points], "o-", label="full")
    a.plot(steps, [p["pitch_coarse"] for p in points], "s--", label="coarse")
    a.axhline(0.8, color="gray", lw=0.8)
    a.set_xlabel("step"), a.set_ylabel("pitch agreement"), a.legend()
    b.plot(steps, [p["mel_full"] for p in points], "o-", label="full")
    b.plot(steps, [p["mel_coarse"] for p in points], "s--", label="coarse")
    b.set_xlabel("step"), b.set_ylabel("mel distance"), b.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "curve.png", dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: evaluate new snapshots of a run and refresh the curve report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--clips", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--every", type=int, default=1, help="evaluate every k-th snapshot (plus the latest)")
    parser.add_argument("--watch-minutes", type=float, default=0.0, help="keep evaluating new snapshots for this long")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    tracks: dict = {}
    stop = time.monotonic() + args.watch_minutes * 60
    while True:
        update_curve(args.run_dir, args.clips, args.seconds, args.every, tracks)
        if time.monotonic() >= stop:
            return 0
        time.sleep(30)


if __name__ == "__main__":
    sys.exit(main())
