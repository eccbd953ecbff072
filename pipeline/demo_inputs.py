"""Inputs the demo makes itself: a melody no training clip contains, sung by a plain additive synth."""
from __future__ import annotations

import math

import torch

# A tune written for the demo (MIDI pitch, beats): not from any corpus the synthetic data draws on.
UNSEEN_TUNE = [(67, 1), (71, 0.5), (74, 0.5), (76, 1), (74, 1), (71, 1.5), (69, 0.5), (67, 1),
               (64, 1), (66, 0.5), (67, 0.5), (69, 1), (71, 2), (67, 2)]


def synth_melody(notes: list[tuple[int, float]] = UNSEEN_TUNE, bpm: float = 100.0, sample_rate: int = 24000) -> torch.Tensor:
    """Render (midi, beats) notes as a soft sawtooth-like tone with a short attack/release: mono [T] in [-1, 1]."""
    beat = 60.0 / bpm
    pieces = []
    for midi, beats in notes:
        n = int(beats * beat * sample_rate)
        t = torch.arange(n) / sample_rate
        hz = 440.0 * 2 ** ((midi - 69) / 12)
        tone = sum(torch.sin(2 * math.pi * hz * k * t) / k for k in range(1, 6))
        env = torch.clamp(t / 0.02, max=1.0) * torch.clamp((beats * beat - t) / 0.05, max=1.0)
        pieces.append(0.3 * tone * env)
    return torch.cat(pieces).float()
