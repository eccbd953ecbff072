"""Audio a user hands to generation (--melody, --prompt-audio): read, checked and refused with one clear line.

Files are checked from their header first (missing, not audio, one sample, longer than MAX_INPUT_SECONDS), then
decoded: samples must be finite and not silent, and a melody must be pitched. Any channel count is mixed to mono
and any sample rate is resampled.
"""
from __future__ import annotations

import os
from typing import Any

import torch

from data_prep.audio_io import MIN_FRAMES, SILENCE_PEAK, load_audio
from data_prep.melody.pitched import require_pitched

from .errors import UserError

MAX_INPUT_SECONDS = 600.0


def read_input_audio(source: str | os.PathLike | torch.Tensor, sample_rate: int, name: str) -> torch.Tensor:
    """Mono float32 [T] at `sample_rate` from a file or a tensor ([T] or [C, T]); DataError/UserError if unusable."""
    if isinstance(source, torch.Tensor):
        return check_samples(source.float().reshape(-1) if source.dim() <= 1 else source.float().mean(0), name)
    return load_audio(source, sample_rate, limit_seconds=MAX_INPUT_SECONDS)


def read_melody(source: Any, sample_rate: int) -> torch.Tensor:
    """A melody input read like read_input_audio that must also have pitched content."""
    wav = read_input_audio(source, sample_rate, "the melody")
    require_pitched(wav, sample_rate, "the melody file" if not isinstance(source, torch.Tensor) else "the melody")
    return wav


def check_samples(wav: torch.Tensor, name: str) -> torch.Tensor:
    """Refuse audio rows that are too short, non-finite or silent; return `wav` unchanged."""
    if wav.shape[-1] < MIN_FRAMES:
        raise UserError(f"{name} is too short ({wav.shape[-1]} sample(s))")
    if not bool(torch.isfinite(wav).all()):
        raise UserError(f"{name} has non-finite samples (NaN or inf)")
    if float(wav.abs().max()) < SILENCE_PEAK:
        raise UserError(f"{name} is silent (peak below {SILENCE_PEAK:g})")
    return wav


def check_generation_inputs(melody: str | None, prompt_audio: str | None, sample_rate: int) -> None:
    """The generate command's check of its audio files, before any weights load."""
    if melody is not None:
        read_melody(melody, sample_rate)
    if prompt_audio is not None:
        read_input_audio(prompt_audio, sample_rate, "the prompt audio")
