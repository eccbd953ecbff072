"""Melody adherence: frame-wise chroma cosine between an input melody and a generated clip (for `--melody` runs)."""
from __future__ import annotations

import torch

from data_prep.melody.features import fold_chroma, semitone_frames

LOW_MIDI, HIGH_MIDI = 36, 96
SILENCE_DB = -50.0


def chroma_frames(wav: torch.Tensor, sample_rate: int, frame_rate: float = 10.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(unit-norm chroma [B,12,F], frame level in dBFS [B,F]) of audio [B,T] or [T]."""
    semis, db = semitone_frames(wav, sample_rate, frame_rate, LOW_MIDI, HIGH_MIDI)
    chroma = fold_chroma(semis, LOW_MIDI)
    return torch.nn.functional.normalize(chroma, dim=1), db


def chroma_cosine(melody: torch.Tensor, generated: torch.Tensor, sample_rate: int, frame_rate: float = 10.0) -> torch.Tensor:
    """Mean cosine of chroma vectors over the melody's non-silent frames, per row -> Float[B] (NaN if all silent)."""
    ref, db = chroma_frames(melody, sample_rate, frame_rate)
    out, _ = chroma_frames(generated, sample_rate, frame_rate)
    n = min(ref.shape[-1], out.shape[-1])
    cos = (ref[..., :n] * out[..., :n]).sum(1)
    voiced = (db[..., :n] > SILENCE_DB).double()
    return (cos.double() * voiced).sum(-1) / voiced.sum(-1)
