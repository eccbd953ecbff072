"""Audio file I/O: soundfile for reading/writing, torchaudio for resampling.

torchaudio.load/save need FFmpeg/torchcodec, so files go through soundfile only.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from training.files import atomic_path

from .errors import DataError

SILENCE_PEAK = 1e-4
MIN_FRAMES = 2


@dataclass(frozen=True)
class AudioInfo:
    """What a file header says, without decoding the samples."""

    path: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def probe(path: str | os.PathLike) -> AudioInfo:
    """Read the header of an audio file; raise DataError if it is missing or not audio."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"audio file not found: {path}")
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError for non-audio
        raise DataError(f"cannot read audio file {path}: {_short(exc)}") from None
    return AudioInfo(str(path), int(info.samplerate), int(info.channels), int(info.frames))


def load_audio(
    path: str | os.PathLike,
    sample_rate: int,
    *,
    allow_silent: bool = False,
    max_seconds: float | None = None,
    limit_seconds: float | None = None,
    segment: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Load any soundfile-readable file as mono float32 [T] at `sample_rate` (channels averaged, resampled).

    `segment` (start, end) in seconds reads only those frames of the file, before resampling; `max_seconds` reads
    only the start (of the segment); `limit_seconds` rejects a longer file from its header, before decoding.
    Raises DataError for a missing, corrupt, empty, one-sample, non-finite or (unless allowed) all-silent file,
    and for a segment that is empty or ends after the file.
    """
    info = probe(path)
    if info.frames < MIN_FRAMES:
        raise DataError(f"audio file is too short ({info.frames} sample(s)): {path}")
    if limit_seconds is not None and info.seconds > limit_seconds:
        raise DataError(f"audio file is {info.seconds:.0f} s long, over the {limit_seconds:g} s limit: {path}")
    start, stop = segment_frames(info, segment) if segment is not None else (0, None)
    if max_seconds is not None:
        cap = start + int(max_seconds * info.sample_rate)
        stop = cap if stop is None else min(stop, cap)
    try:
        data, sr = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
    except Exception as exc:
        raise DataError(f"cannot decode audio file {path}: {_short(exc)}") from None
    if data.shape[0] < MIN_FRAMES:
        raise DataError(f"audio file is empty: {path}")
    if not np.isfinite(data).all():
        raise DataError(f"audio file has non-finite samples: {path}")
    wav = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))
    if not allow_silent and float(wav.abs().max()) < SILENCE_PEAK:
        raise DataError(f"audio file is silent (peak below {SILENCE_PEAK:g}): {path}")
    return resample(wav, sr, sample_rate)


def load_record_audio(record: Mapping[str, Any], sample_rate: int, **kwargs: Any) -> torch.Tensor:
    """Load a manifest record's audio: its `start`..`end` seconds when it has them, else the whole file.

    Keyword arguments go to load_audio (allow_silent, max_seconds, limit_seconds).
    """
    segment = None
    if "start" in record or "end" in record:
        if record.get("start") is None or record.get("end") is None:
            raise DataError(f"record {record.get('id')!r} needs both 'start' and 'end' (or neither)")
        segment = (float(record["start"]), float(record["end"]))
    return load_audio(record["path"], sample_rate, segment=segment, **kwargs)


def segment_frames(info: AudioInfo, segment: tuple[float, float]) -> tuple[int, int]:
    """[start, stop) frame range of `segment` (start, end) seconds in the file `info` describes.

    The end may overshoot the file by under one frame (float seconds of the last frame) and is clamped.
    """
    start_s, end_s = segment
    start, stop = round(start_s * info.sample_rate), round(end_s * info.sample_rate)
    if not 0 <= start < stop:
        raise DataError(f"segment {start_s:g}-{end_s:g} s of {info.path} is empty or negative")
    if stop > info.frames + 1:
        raise DataError(f"segment {start_s:g}-{end_s:g} s ends after the file ({info.seconds:g} s): {info.path}")
    return start, min(stop, info.frames)


def as_mono_batch(wav: torch.Tensor) -> torch.Tensor:
    """[T], [B, T] or channels [B, C, T] -> float32 mono [B, T] (channels averaged)."""
    wav = torch.as_tensor(wav).float()
    if wav.dim() == 1:
        return wav[None]
    if wav.dim() == 3:
        return wav.mean(dim=1)
    if wav.dim() != 2:
        raise DataError(f"expected audio [T], [B, T] or [B, C, T], got shape {tuple(wav.shape)}")
    return wav


def resample(wav: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    """Resample along the last axis with torchaudio's windowed-sinc resampler."""
    if orig_sr == new_sr:
        return wav
    return AF.resample(wav, orig_sr, new_sr)


def save_wav(path: str | os.PathLike, wav: torch.Tensor | np.ndarray, sample_rate: int) -> None:
    """Write mono [T] or channels-first [C, T] audio as 16-bit PCM WAV, atomically.

    Samples are clipped to [-1, 1]; the file appears only once fully written.
    """
    arr = wav.detach().cpu().float().numpy() if isinstance(wav, torch.Tensor) else np.asarray(wav, np.float32)
    if arr.ndim == 2:
        arr = arr.T
    elif arr.ndim != 1:
        raise ValueError(f"expected [T] or [C, T] audio, got shape {arr.shape}")
    arr = np.clip(arr, -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), arr, sample_rate, subtype="PCM_16", format="WAV")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
