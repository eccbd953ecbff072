"""Check a synthetic corpus against a pitch tracker: melody agreement on its solo, single-line, drum-free clips.

Usage: python -m eval.synth_check MANIFEST [--max-clips 60] [--seed 0] [--cents 50] [--out report.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from data_prep.audio_io import load_audio
from data_prep.errors import DataError
from data_prep.files import atomic_write_text
from data_prep.manifest import read_manifest

from .pitch import melody_hits, track_pitch

TARGET = 0.9
# Timbres where pesto, not the manifest, is the weak side (measured on the tiny corpus): xylophone/celesta/marimba get
# low voicing confidence or inharmonic partials, the GM pipe organ's octave-doubled registration is tracked an octave
# up, and slow-release section/pad patches smear fast note changes. Reported separately, never dropped.
TRACKER_LIMITED = ("xylophone", "celesta", "marimba", "pipe organ", "string section", "synth strings", "warm synth pad")


def solo_clips(records: list[dict]) -> list[dict]:
    """Clips a monophonic tracker can judge: one instrument, one voice, no drums, with a melody."""
    out = []
    for r in records:
        a = r.get("attributes") or {}
        if a.get("texture") == "solo" and a.get("voices") == 1 and not a.get("drums") and r.get("melody"):
            out.append(r)
    return out


def synth_check(manifest: str | Path, max_clips: int = 60, seed: int = 0, cents: float = 50.0) -> dict[str, Any]:
    """Melody agreement (pooled over frames, and per clip / per instrument) on a seeded sample of solo clips."""
    records = solo_clips(read_manifest(manifest))
    if not records:
        raise DataError(f"{manifest} has no solo single-voice clips without drums to check")
    order = np.random.default_rng(seed).permutation(len(records))[:max_clips]
    sample = [records[i] for i in sorted(order)]
    hits_total = frames_total = 0
    kept = [0, 0]
    per_clip: list[dict[str, Any]] = []
    by_instrument: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in sample:
        wav = load_audio(r["path"], r["sample_rate"])
        hits, frames = melody_hits([tuple(n) for n in r["melody"]], track_pitch(wav, r["sample_rate"]), cents)
        hits_total += hits
        frames_total += frames
        name = r["attributes"]["instruments"][0]
        by_instrument[name][0] += hits
        by_instrument[name][1] += frames
        if name not in TRACKER_LIMITED:
            kept[0] += hits
            kept[1] += frames
        per_clip.append({"id": r["id"], "instrument": name, "agreement": hits / frames if frames else None})
    clip_values = [c["agreement"] for c in per_clip if c["agreement"] is not None]
    pooled = hits_total / frames_total if frames_total else float("nan")
    return {
        "manifest": str(manifest),
        "clips_checked": len(sample),
        "solo_clips_available": len(records),
        "cents": cents,
        "pooled_agreement": round(pooled, 4),
        "median_clip_agreement": round(float(np.median(clip_values)), 4) if clip_values else None,
        "share_of_clips_at_least_90pct": round(float(np.mean([v >= TARGET for v in clip_values])), 4) if clip_values else None,
        "passes_90pct": bool(pooled >= TARGET),
        "pooled_agreement_without_tracker_limited_timbres": round(kept[0] / kept[1], 4) if kept[1] else None,
        "tracker_limited_timbres": list(TRACKER_LIMITED),
        "by_instrument": {k: round(h / f, 4) for k, (h, f) in sorted(by_instrument.items()) if f},
        "worst_clips": sorted((c for c in per_clip if c["agreement"] is not None), key=lambda c: c["agreement"])[:5],
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: print the report (and write it as JSON with --out); exit 2 on a bad manifest."""
    parser = argparse.ArgumentParser(prog="python -m eval.synth_check", description=__doc__.splitlines()[0])
    parser.add_argument("manifest")
    parser.add_argument("--max-clips", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cents", type=float, default=50.0)
    parser.add_argument("--out", help="write the report as JSON here")
    args = parser.parse_args(argv)
    try:
        report = synth_check(args.manifest, args.max_clips, args.seed, args.cents)
    except DataError as exc:
        sys.stderr.write(f"synth_check: error: {exc}\n")
        return 2
    text = json.dumps(report, indent=2)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
