"""A cheap test for pitched content: normalised autocorrelation per frame, the way a voicing detector does it.

A constant (DC) signal, white noise and silence have no frame with a strong periodic peak; a hummed,
sung or played tune has many.
"""
from __future__ import annotations

import torch

from ..audio_io import resample
from ..errors import DataError

ANALYSIS_RATE = 8000
FRAME = 1024
HOP = 512
MIN_LAG = 5  # 1.6 kHz
MAX_LAG = 160  # 50 Hz
PERIODIC_PEAK = 0.6
QUIET_DB = 30.0
MIN_PITCHED_SHARE = 0.1


def pitched_share(wav: torch.Tensor, sample_rate: int) -> float:
    """Share of frames (128 ms) whose normalised autocorrelation has a peak >= 0.6 at a 50 Hz-1.6 kHz period.

    Frames more than 30 dB below the loudest frame never count, so near-silence and tails are not pitched.
    """
    x = resample(torch.as_tensor(wav, dtype=torch.float32).reshape(-1), int(sample_rate), ANALYSIS_RATE)
    if x.numel() < FRAME:
        x = torch.nn.functional.pad(x, (0, FRAME - x.numel()))
    frames = x.unfold(0, FRAME, HOP).double()
    frames = frames - frames.mean(-1, keepdim=True)
    window = torch.hann_window(FRAME, periodic=False, dtype=torch.float64)
    energy = (frames * window).pow(2).mean(-1)
    ac = _autocorrelation(frames * window)
    # Dividing by the window's own autocorrelation undoes its taper, so a pure tone reads close to 1 at its period.
    ac_window = _autocorrelation(window[None])[0]
    norm = (ac / ac[:, :1].clamp(min=1e-20)) / (ac_window / ac_window[0])
    peak = norm[:, MIN_LAG:MAX_LAG + 1].max(-1).values
    loud = (energy > 1e-12) & (10 * torch.log10(energy.clamp(min=1e-30)) >= 10 * torch.log10(energy.max().clamp(min=1e-30)) - QUIET_DB)
    return float(((peak >= PERIODIC_PEAK) & loud).double().mean())


def require_pitched(wav: torch.Tensor, sample_rate: int, name: str = "the melody file") -> None:
    """Raise DataError when fewer than 10% of the frames are pitched (DC, noise, silence, clicks)."""
    if pitched_share(wav, sample_rate) < MIN_PITCHED_SHARE:
        raise DataError(f"{name} has no pitched content (hum, sing or play a tune)")


def _autocorrelation(frames: torch.Tensor) -> torch.Tensor:
    spec = torch.fft.rfft(frames, n=2 * FRAME)
    return torch.fft.irfft(spec.real ** 2 + spec.imag ** 2, n=2 * FRAME)[..., :FRAME]
