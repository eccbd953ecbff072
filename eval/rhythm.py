"""Signal checks that need no trained model: tempo from a shipped beat tracker, and clicks at window joins."""
from __future__ import annotations

import numpy as np
import torch

from data_prep.synth.captions import tempo_word


def beat_tracker_bpm(wav: torch.Tensor, sample_rate: int) -> float:
    """Tempo in BPM of mono audio [T] from librosa's beat tracker (0.0 when it finds no beat)."""
    import librosa

    tempo, _ = librosa.beat.beat_track(y=wav.float().numpy(), sr=sample_rate)
    return float(np.atleast_1d(tempo)[0])


def beat_tracker_tempo_words(clips: torch.Tensor, sample_rate: int) -> list[str]:
    """The captions' tempo word (slow ... very fast) for each clip [B, T], as the beat tracker hears it."""
    return [tempo_word(int(round(beat_tracker_bpm(c, sample_rate)))) for c in clips]


def seam_ratio(wav: torch.Tensor, sample_rate: int, joins_s: list[float], window_s: float = 0.01) -> float:
    """Largest first difference within ±window of each join, over the 99th percentile of first differences elsewhere.

    A click at a join makes this well above 1; a seamless join keeps it near or below the clip's own peaks.
    """
    diff = wav.float().diff().abs()
    half = max(1, int(window_s * sample_rate))
    mask = torch.zeros_like(diff, dtype=torch.bool)
    peaks = []
    for t in joins_s:
        i = int(t * sample_rate)
        lo, hi = max(0, i - half), min(diff.numel(), i + half)
        if hi > lo:
            mask[lo:hi] = True
            peaks.append(float(diff[lo:hi].max()))
    rest = diff[~mask]
    if not peaks or rest.numel() == 0:
        return float("nan")
    return max(peaks) / max(float(torch.quantile(rest, 0.99)), 1e-9)
