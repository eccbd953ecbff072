"""Beat-tracker tempo words and the click detector at window joins."""
import math

import torch

from eval.rhythm import beat_tracker_bpm, beat_tracker_tempo_words, seam_ratio

SR = 22050


def _clicks(bpm: float, seconds: float = 8.0) -> torch.Tensor:
    wav = torch.zeros(int(seconds * SR))
    period = 60.0 / bpm
    for k in range(int(seconds / period)):
        i = int(k * period * SR)
        n = torch.arange(400)
        wav[i:i + 400] = torch.exp(-n / 60.0) * torch.sin(2 * math.pi * 1000 * n / SR)
    return wav


def test_beat_tracker_finds_a_click_track_tempo():
    assert abs(beat_tracker_bpm(_clicks(120.0), SR) - 120.0) < 6
    assert beat_tracker_tempo_words(torch.stack([_clicks(60.0), _clicks(160.0)]), SR) == ["slow", "very fast"]


def test_seam_ratio_flags_a_discontinuity_and_passes_a_smooth_join():
    t = torch.arange(2 * SR) / SR
    smooth = 0.5 * torch.sin(2 * math.pi * 220 * t)
    assert seam_ratio(smooth, SR, [1.0]) < 1.2
    broken = smooth.clone()
    broken[SR:] = -broken[SR:] + 0.8
    assert seam_ratio(broken, SR, [1.0]) > 3.0
