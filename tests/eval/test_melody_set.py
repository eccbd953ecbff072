"""Outside melodies: deterministic, tracked back from their own audio and another timbre, and a different tune fails."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from eval.melody_set import MelodyItem, melody_set, pitch_class_accuracy

RATE, SECONDS = 16000, 4.0


def _saw(notes: list[tuple[float, float, int]], shift: int = 0) -> torch.Tensor:
    """A plain sawtooth rendering of a note list (a timbre the melody set does not use)."""
    total = int(RATE * SECONDS)
    out = np.zeros(total)
    for onset, dur, midi in notes:
        a, b = int(onset * RATE), min(total, int((onset + dur) * RATE))
        t = np.arange(b - a) / RATE
        f = 440.0 * 2 ** ((midi + shift - 69) / 12)
        env = np.clip(np.minimum(t / 0.01, (dur - t) / 0.02), 0.0, 1.0)
        out[a:b] = 0.3 * (2 * ((t * f) % 1.0) - 1) * env
    return torch.from_numpy(out).float()


@pytest.fixture(scope="module")
def items() -> list[MelodyItem]:
    return melody_set(RATE, SECONDS, seed=0, count=3)


def test_deterministic_and_well_formed(items: list[MelodyItem]) -> None:
    again = melody_set(RATE, SECONDS, seed=0, count=3)
    assert [i.name for i in items] == [i.name for i in again]
    for a, b in zip(items, again):
        assert a.notes == b.notes and torch.equal(a.wav, b.wav)
    other = melody_set(RATE, SECONDS, seed=1, count=3)
    assert any(a.notes != b.notes for a, b in zip(items, other))
    for item in items:
        assert item.wav.shape == (int(RATE * SECONDS),) and item.sample_rate == RATE
        assert len(item.notes) >= 4 and all(0 <= on < SECONDS and d > 0 for on, d, _ in item.notes)
    steps = np.concatenate([np.abs(np.diff([m for _, _, m in item.notes])) for item in items])
    assert np.mean(steps <= 2) >= 0.5 and steps.max() >= 5


@pytest.mark.parametrize("k", [0, 1, 2])
def test_own_audio_and_another_timbre_score_high(items: list[MelodyItem], k: int) -> None:
    item = items[k]
    assert pitch_class_accuracy(item.notes, item.wav, RATE) >= 0.9
    assert pitch_class_accuracy(item.notes, _saw(item.notes), RATE) >= 0.9


def test_a_different_melody_scores_low(items: list[MelodyItem]) -> None:
    notes = items[0].notes
    assert pitch_class_accuracy(notes, _saw(notes, shift=6), RATE) <= 0.2
    other = min(melody_set(RATE, SECONDS, seed=9, count=6), key=lambda o: _shared_pitch_classes(notes, o.notes))
    assert pitch_class_accuracy(notes, other.wav, RATE) <= 0.2


def _shared_pitch_classes(a: list[tuple[float, float, int]], b: list[tuple[float, float, int]]) -> float:
    """Share of a's note time spent on pitch classes that b ever plays: the other tune is picked to really differ."""
    used = {m % 12 for _, _, m in b}
    return sum(d for _, d, m in a if m % 12 in used) / sum(d for _, d, _ in a)


def test_time_offset_is_searched_and_silence_misses(items: list[MelodyItem]) -> None:
    item = items[0]
    late = torch.nn.functional.pad(item.wav, (int(0.3 * RATE), 0))[: item.wav.numel()]
    assert pitch_class_accuracy(item.notes, late, RATE) >= 0.8
    assert pitch_class_accuracy(item.notes, late, RATE, max_offset_s=0.0) < 0.8
    assert pitch_class_accuracy(item.notes, torch.zeros(int(RATE * SECONDS)), RATE) == 0.0
    assert math.isnan(pitch_class_accuracy([], item.wav, RATE))
