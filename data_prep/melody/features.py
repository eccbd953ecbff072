"""Pitch-class features shared by both melody tokenizers.

A semitone spectrogram (STFT power folded onto MIDI pitches with triangular weights, 100 frames/s) is
averaged down to the requested frame rate and folded onto 12 pitch classes, so any mono/stereo audio at any
sample rate maps to chroma frames; the frame RMS (dBFS) marks silence.
"""
from __future__ import annotations

import math

import torch

from ..audio_io import as_mono_batch, resample
from ..errors import DataError

ANALYSIS_RATE = 16000
ANALYSIS_HOP = 160  # 100 frames per second
N_FFT = 2048


def semitone_matrix(low_midi: int, high_midi: int) -> torch.Tensor:
    """Float[n_pitches, N_FFT//2+1]: triangular weights of each FFT bin on each MIDI pitch (1 semitone wide)."""
    freqs = torch.arange(N_FFT // 2 + 1) * ANALYSIS_RATE / N_FFT
    midi = 69 + 12 * torch.log2(freqs.clamp(min=1e-3) / 440.0)
    pitches = torch.arange(low_midi, high_midi + 1).float()
    weights = (1 - (midi[None, :] - pitches[:, None]).abs()).clamp(min=0)
    weights[:, freqs < 20] = 0
    return weights


def semitone_frames(wav: torch.Tensor, sample_rate: int, frame_rate: float, low_midi: int,
                    high_midi: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Audio -> (semitone power [B, n_pitches, F], frame RMS in dBFS [B, F]) at `frame_rate` frames/s."""
    wav = resample(as_mono_batch(wav), sample_rate, ANALYSIS_RATE)
    window = torch.hann_window(N_FFT)
    spec = torch.stft(wav, N_FFT, ANALYSIS_HOP, window=window, center=True, return_complex=True).abs() ** 2
    power = semitone_matrix(low_midi, high_midi) @ spec
    usable = max(1, wav.shape[-1] // ANALYSIS_HOP)
    padded = torch.nn.functional.pad(wav, (0, max(0, usable * ANALYSIS_HOP - wav.shape[-1])))
    mean_square = padded[:, : usable * ANALYSIS_HOP].reshape(wav.shape[0], usable, ANALYSIS_HOP).pow(2).mean(dim=-1)
    frames = min(usable, power.shape[-1])
    per = 100.0 / frame_rate
    n_out = max(1, int(math.floor(frames / per)))
    edges = [min(frames, int(round(i * per))) for i in range(n_out + 1)]
    edges[-1] = max(edges[-1], edges[-2] + 1)
    pooled = torch.stack([power[..., a:b].mean(dim=-1) for a, b in zip(edges, edges[1:])], dim=-1)
    ms = torch.stack([mean_square[..., a:b].mean(dim=-1) for a, b in zip(edges, edges[1:])], dim=-1)
    db = 10 * torch.log10(ms.clamp(min=1e-12))
    return pooled, db


def fold_chroma(semitones: torch.Tensor, low_midi: int) -> torch.Tensor:
    """Semitone power [B, n_pitches, F] -> pitch-class power [B, 12, F] (C = 0)."""
    b, n, f = semitones.shape
    classes = (torch.arange(n) + low_midi) % 12
    out = torch.zeros(b, 12, f)
    out.index_add_(1, classes, semitones)
    return out
