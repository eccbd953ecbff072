"""Check a synthetic corpus against a pitch tracker: melody agreement on its solo, single-line, drum-free clips.

Agreement is raw pitch accuracy over the manifest's note frames; voicing recall and a strict figure come beside it.

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

from data_prep.audio_io import load_record_audio
from data_prep.errors import DataError
from data_prep.manifest import read_manifest
from training.files import atomic_write_text

from .pitch import MelodyCounts, melody_counts, track_pitch

TARGET = 0.9
# Timbres where pesto, not the manifest, is the weak side (measured on the tiny corpus): xylophone and the soprano
# saxophone get low voicing confidence on correctly tracked notes, and slow-release section/pad patches smear fast
# note changes. Reported separately, never dropped.
TRACKER_LIMITED = ("xylophone", "soprano saxophone", "celesta", "string section", "synth strings", "warm synth pad")


def solo_clips(records: list[dict]) -> list[dict]:
    """Clips a monophonic tracker can judge: one instrument, one voice, no drums, with a melody."""
    out = []
    for r in records:
        a = r.get("attributes") or {}
        if a.get("texture") == "solo" and a.get("voices") == 1 and not a.get("drums") and r.get("melody"):
            out.append(r)
    return out


def synth_check(manifest: str | Path, max_clips: int = 60, seed: int = 0, cents: float = 50.0) -> dict[str, Any]:
    """Melody agreement (pooled over frames, and per clip / per instrument) on a seeded sample of solo clips.

    The headline is raw pitch accuracy (mir_eval's definition): of the frames where the manifest has a note, the
    share where the tracked pitch is within `cents`. Voicing recall (the tracker calls the frame voiced) and the
    strict figure (voiced and within `cents`) are reported beside it.
    """
    records = solo_clips(read_manifest(manifest))
    if not records:
        raise DataError(f"{manifest} has no solo single-voice clips without drums to check")
    order = np.random.default_rng(seed).permutation(len(records))[:max_clips]
    sample = [records[i] for i in sorted(order)]
    total, kept = MelodyCounts(), MelodyCounts()
    per_clip: list[dict[str, Any]] = []
    by_instrument: dict[str, MelodyCounts] = defaultdict(MelodyCounts)
    for r in sample:
        wav = load_record_audio(r, r["sample_rate"])
        counts = melody_counts([tuple(n) for n in r["melody"]], track_pitch(wav, r["sample_rate"]), cents)
        total += counts
        name = r["attributes"]["instruments"][0]
        by_instrument[name] += counts
        if name not in TRACKER_LIMITED:
            kept += counts
        per_clip.append({"id": r["id"], "instrument": name,
                         "agreement": counts.share("pitch_ok") if counts.scored else None})
    clip_values = [c["agreement"] for c in per_clip if c["agreement"] is not None]
    pooled = total.share("pitch_ok")
    return {
        "manifest": str(manifest),
        "clips_checked": len(sample),
        "solo_clips_available": len(records),
        "cents": cents,
        "frames_scored": total.scored,
        "pooled_agreement": round(pooled, 4),
        "voicing_recall": round(total.share("voiced"), 4),
        "strict_agreement": round(total.share("strict"), 4),
        "median_clip_agreement": round(float(np.median(clip_values)), 4) if clip_values else None,
        "share_of_clips_at_least_90pct": round(float(np.mean([v >= TARGET for v in clip_values])), 4) if clip_values else None,
        "passes_90pct": bool(pooled >= TARGET),
        "pooled_agreement_without_tracker_limited_timbres": round(kept.share("pitch_ok"), 4) if kept.scored else None,
        "tracker_limited_timbres": list(TRACKER_LIMITED),
        "by_instrument": {k: round(c.share("pitch_ok"), 4) for k, c in sorted(by_instrument.items()) if c.scored},
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
