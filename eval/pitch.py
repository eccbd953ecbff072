"""Monophonic pitch tracking (pesto-pitch, weights ship in the package) and pitch-agreement metrics.

Voicing: a frame is voiced when pesto's voicing confidence is at least VOICED_THRESHOLD (0.5) and the
frame's level is within SILENCE_DB (40 dB) of the track's loudest frame. The level gate matters because pesto's
confidence stays high on decaying tails and near-silence, where its pitch estimate is unreliable.
"""
from __future__ import annotations

import functools
import pickle
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

VOICED_THRESHOLD = 0.5
SILENCE_DB = 40.0
PESTO_MODEL = "mir-1k_g7"
NOTE_EDGE_SECONDS = 0.03


@dataclass
class PitchTrack:
    """A frame-wise pitch track: times (s), float MIDI pitch, voiced flags and the tracker's confidence."""

    times: np.ndarray
    midi: np.ndarray
    voiced: np.ndarray
    confidence: np.ndarray

    @property
    def hop_seconds(self) -> float:
        """Spacing of the frames (0.0 for fewer than two frames)."""
        return float(self.times[1] - self.times[0]) if len(self.times) > 1 else 0.0


class _OmegaStub:
    """Stands in for omegaconf containers/nodes inside pesto's checkpoint (omegaconf is not installed)."""

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


class _StubUnpickler(pickle.Unpickler):
    """Unpickler that maps omegaconf classes to _OmegaStub and refuses any module outside a small allow-list."""

    ALLOWED = ("collections", "torch", "typing", "builtins", "__builtin__", "_codecs", "numpy")

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("omegaconf"):
            return _OmegaStub
        if module.split(".")[0] not in self.ALLOWED:
            raise pickle.UnpicklingError(f"pesto checkpoint references unexpected {module}.{name}")
        return super().find_class(module, name)


def _plain(obj: Any) -> Any:
    if isinstance(obj, _OmegaStub):
        if "_val" in obj.__dict__:
            return _plain(obj.__dict__["_val"])
        return _plain(obj.__dict__.get("_content"))
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _read_pesto_checkpoint(path: Path) -> dict:
    module = types.SimpleNamespace(Unpickler=_StubUnpickler, load=pickle.load, __name__="pesto_stub_pickle")
    checkpoint = torch.load(path, map_location="cpu", weights_only=False, pickle_module=module)
    return {key: (value if key == "state_dict" else _plain(value)) for key, value in checkpoint.items()}


@functools.lru_cache(maxsize=8)
def _model(hop_seconds: float, sample_rate: int) -> torch.nn.Module:
    import pesto
    from pesto.data import Preprocessor
    from pesto.model import PESTO, Resnet1d

    checkpoint = _read_pesto_checkpoint(Path(pesto.__file__).parent / "weights" / f"{PESTO_MODEL}.ckpt")
    hparams = checkpoint["hparams"]
    preprocessor = Preprocessor(hop_size=hop_seconds * 1000.0, sampling_rate=sample_rate, **checkpoint["hcqt_params"])
    model = PESTO(
        Resnet1d(**hparams["encoder"]),
        preprocessor=preprocessor,
        crop_kwargs=hparams["pitch_shift"],
        reduction=hparams["reduction"],
    )
    model.load_state_dict(checkpoint["state_dict"], strict=False)
    return model.eval()


def track_pitch(wav: torch.Tensor, sample_rate: int, hop_seconds: float = 0.01) -> PitchTrack:
    """Track the pitch of mono audio [T] (or [1, T]) with pesto; frame i is centred at i * hop_seconds."""
    wav = torch.as_tensor(wav, dtype=torch.float32).reshape(-1)
    if wav.numel() == 0:
        empty = np.zeros(0)
        return PitchTrack(empty, empty, empty.astype(bool), empty)
    model = _model(float(hop_seconds), int(sample_rate))
    with torch.inference_mode():
        midi, confidence, volume, _ = model(wav, sr=int(sample_rate), convert_to_freq=False, return_activations=True)
    midi = midi.reshape(-1).double().numpy()
    confidence = confidence.reshape(-1).double().numpy()
    level_db = 10.0 * np.log10(np.maximum(volume.reshape(-1).double().numpy(), 1e-12))
    loud = level_db >= level_db.max() - SILENCE_DB
    voiced = (confidence >= VOICED_THRESHOLD) & loud
    times = np.arange(len(midi), dtype=np.float64) * hop_seconds
    return PitchTrack(times=times, midi=midi, voiced=voiced, confidence=confidence)


def _within(a: np.ndarray, b: np.ndarray, cents: float) -> np.ndarray:
    return np.abs(a - b) * 100.0 <= cents


def pitch_agreement(ref: PitchTrack, est: PitchTrack, cents: float = 50.0) -> float:
    """Share of ref's voiced frames where est is voiced and within `cents` (octave errors are misses)."""
    n = min(len(ref.midi), len(est.midi))
    ref_voiced = ref.voiced[:n]
    total = int(ref_voiced.sum())
    if total == 0:
        return float("nan")
    hits = ref_voiced & est.voiced[:n] & _within(ref.midi[:n], est.midi[:n], cents)
    return float(hits.sum()) / total


@dataclass
class MelodyCounts:
    """Frame counts of a pitch track scored against a note list (summable across clips, so pooling is frame-weighted).

    scored: frames inside a note (30 ms trimmed at each end), the reference-voiced frames.
    pitch_ok: scored frames whose tracked pitch is within the tolerance, whatever the tracker's voicing flag
    (mir_eval's raw pitch accuracy numerator). voiced: scored frames the tracker calls voiced.
    strict: voiced and within the tolerance.
    """

    scored: int = 0
    pitch_ok: int = 0
    voiced: int = 0
    strict: int = 0

    def __add__(self, other: "MelodyCounts") -> "MelodyCounts":
        return MelodyCounts(self.scored + other.scored, self.pitch_ok + other.pitch_ok, self.voiced + other.voiced,
                            self.strict + other.strict)

    def share(self, name: str) -> float:
        """pitch_ok / voiced / strict as a share of the scored frames (nan when nothing is scored)."""
        return getattr(self, name) / self.scored if self.scored else float("nan")


def melody_counts(notes: list[tuple[float, float, int]], track: PitchTrack, cents: float = 50.0) -> MelodyCounts:
    """Score `track` against the notes (onset s, duration s, MIDI pitch): see MelodyCounts."""
    target = np.full(len(track.times), np.nan)
    for onset, duration, pitch in notes:
        start, end = onset + NOTE_EDGE_SECONDS, onset + duration - NOTE_EDGE_SECONDS
        if end <= start:
            continue
        inside = (track.times >= start) & (track.times < end)
        target[inside] = pitch
    scored = ~np.isnan(target)
    close = scored & _within(np.nan_to_num(target), track.midi, cents)
    voiced = scored & track.voiced
    return MelodyCounts(int(scored.sum()), int(close.sum()), int(voiced.sum()), int((close & voiced).sum()))


def melody_agreement(notes: list[tuple[float, float, int]], track: PitchTrack, cents: float = 50.0) -> float:
    """Share of frames inside a note (skipping 30 ms at each end) where the track is voiced and within `cents`."""
    return melody_counts(notes, track, cents).share("strict")
