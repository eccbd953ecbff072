"""Pitch tracker (pesto) and agreement metrics on synthetic tones."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from eval.pitch import PitchTrack, melody_agreement, melody_counts, pitch_agreement, track_pitch

SR = 24000


def _tones(notes: list[tuple[float, float, int]], seconds: float) -> torch.Tensor:
    t = np.arange(int(seconds * SR)) / SR
    out = np.zeros_like(t)
    for onset, dur, midi in notes:
        freq = 440.0 * 2 ** ((midi - 69) / 12)
        inside = (t >= onset) & (t < onset + dur)
        phase = 2 * np.pi * freq * (t[inside] - onset)
        out[inside] = 0.3 * np.sin(phase) + 0.1 * np.sin(2 * phase)
    return torch.tensor(out, dtype=torch.float32)


NOTES = [(0.2, 0.5, 60), (0.7, 0.5, 64), (1.2, 0.6, 67)]


def test_tracker_follows_tones_and_silence_is_unvoiced() -> None:
    track = track_pitch(_tones(NOTES, 2.2), SR)
    assert track.midi.shape == track.times.shape == track.voiced.shape == track.confidence.shape
    assert melody_agreement(NOTES, track) >= 0.95
    assert not track.voiced[track.times < 0.15].any()
    assert not track.voiced[track.times > 1.9].any()


def test_wrong_notes_and_octave_errors_are_misses() -> None:
    track = track_pitch(_tones(NOTES, 2.2), SR)
    assert melody_agreement([(o, d, m + 1) for o, d, m in NOTES], track) < 0.05
    assert melody_agreement([(o, d, m + 12) for o, d, m in NOTES], track) < 0.05
    assert melody_agreement([(o, d, m + 1) for o, d, m in NOTES], track, cents=150.0) >= 0.95


def test_raw_pitch_accuracy_ignores_voicing_but_strict_does_not() -> None:
    track = track_pitch(_tones(NOTES, 2.2), SR)
    quiet = dataclasses.replace(track, voiced=track.voiced & (track.times >= 0.7))
    counts = melody_counts(NOTES, quiet)
    assert counts.share("pitch_ok") >= 0.95
    assert 0.55 < counts.share("voiced") < 0.75 and counts.share("strict") <= counts.share("voiced")
    assert melody_counts([(o, d, m + 12) for o, d, m in NOTES], quiet).share("pitch_ok") < 0.05
    total = counts + melody_counts(NOTES[:1], track)
    assert total.scored == counts.scored + melody_counts(NOTES[:1], track).scored


def test_pitch_agreement_between_tracks() -> None:
    ref = track_pitch(_tones(NOTES, 2.2), SR)
    assert pitch_agreement(ref, ref) == 1.0
    octave = dataclasses.replace(ref, midi=ref.midi + 12.0)
    assert pitch_agreement(ref, octave) == 0.0
    unvoiced = dataclasses.replace(ref, voiced=np.zeros_like(ref.voiced))
    assert pitch_agreement(ref, unvoiced) == 0.0
    half = ref.midi.copy()
    half[: len(half) // 2] += 1.0
    ratio = pitch_agreement(ref, dataclasses.replace(ref, midi=half))
    assert 0.2 < ratio < 0.8


def test_empty_reference_gives_nan() -> None:
    empty = PitchTrack(np.zeros(3), np.zeros(3), np.zeros(3, bool), np.zeros(3))
    assert np.isnan(pitch_agreement(empty, empty))
    assert np.isnan(melody_agreement([], empty))


def test_synth_check_reports_agreement_over_solo_clips(tmp_path) -> None:
    from data_prep.audio_io import save_wav
    from data_prep.manifest import write_manifest
    from eval.synth_check import main, synth_check

    solo = {"texture": "solo", "voices": 1, "drums": False, "instruments": ["sine"]}
    rows = []
    for i, shift in enumerate((0, 5)):
        notes = [(o, d, m + shift) for o, d, m in NOTES]
        save_wav(tmp_path / f"c{i}.wav", _tones(notes, 2.0), SR)
        rows.append({"id": f"c{i}", "path": f"c{i}.wav", "seconds": 2.0, "sample_rate": SR,
                     "attributes": solo, "melody": [list(n) for n in notes]})
    rows.append({**rows[0], "id": "band", "attributes": {**solo, "texture": "ensemble"}})
    rows.append({**rows[0], "id": "wrong", "melody": [[o, d, m + 2] for o, d, m in NOTES]})
    write_manifest(tmp_path / "m.jsonl", rows)
    report = synth_check(tmp_path / "m.jsonl", max_clips=10)
    assert report["clips_checked"] == 3 and report["solo_clips_available"] == 3
    assert 0.6 < report["pooled_agreement"] < 0.7
    assert report["share_of_clips_at_least_90pct"] == pytest.approx(2 / 3, abs=1e-3) and not report["passes_90pct"]
    write_manifest(tmp_path / "none.jsonl", [rows[2]])
    assert main([str(tmp_path / "none.jsonl")]) == 2
