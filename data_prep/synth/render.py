"""Deterministic rendering of note events through a General MIDI SoundFont with tinysoundfont."""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError

DRUM_CHANNEL = 9
PEAK = 0.9
FADE_SECONDS = 0.02


@dataclass(frozen=True)
class NoteEvent:
    """One note to play: channel, MIDI key, velocity, start and end in seconds."""

    channel: int
    key: int
    velocity: int
    start: float
    end: float


def default_soundfont() -> Path:
    """The General MIDI SoundFont bundled with pretty_midi (TimGM6mb.sf2)."""
    import pretty_midi

    return Path(pretty_midi.__file__).resolve().parent / "TimGM6mb.sf2"


def resolve_soundfont(path: str | os.PathLike | None) -> Path:
    """The SoundFont to use: `path` if given (must be a readable .sf2/.sf3), else the bundled one."""
    if path is None:
        return default_soundfont()
    found = Path(path).expanduser()
    if not found.is_file():
        raise DataError(f"soundfont not found: {found} (pass an existing .sf2 file to --soundfont)")
    return found.resolve()


@functools.lru_cache(maxsize=4)
def _soundfont_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


def render_events(
    events: list[NoteEvent],
    programs: dict[int, int],
    seconds: float,
    sample_rate: int,
    soundfont: str | os.PathLike,
) -> np.ndarray:
    """Render events (programs: channel -> GM program; the drum channel uses the GM kit) to mono float32 [T].

    The output is peak-normalised to 0.9 with a 20 ms fade-out; a silent render raises DataError.
    """
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=sample_rate)
    try:
        sfid = synth.sfload(_soundfont_bytes(str(soundfont)))
    except Exception as exc:
        raise DataError(f"cannot load soundfont {soundfont}: {exc}") from None
    for channel, program in sorted(programs.items()):
        if channel == DRUM_CHANNEL:
            synth.program_select(channel, sfid, 128, 0, is_drums=True)
        else:
            synth.program_select(channel, sfid, 0, program)
    total = int(round(seconds * sample_rate))
    actions: list[tuple[int, int, int, int, int]] = []
    for e in events:
        on = int(round(e.start * sample_rate))
        off = min(int(round(e.end * sample_rate)), total)
        if on >= total or off <= on:
            continue
        actions.append((on, 1, e.channel, e.key, e.velocity))
        actions.append((off, 0, e.channel, e.key, 0))
    actions.sort()
    out = np.zeros((total, 2), dtype=np.float32)
    pos = 0
    for at, kind, channel, key, velocity in actions:
        if at > pos:
            out[pos:at] = np.frombuffer(synth.generate_simple(at - pos), dtype=np.float32).reshape(-1, 2)
            pos = at
        if kind:
            synth.noteon(channel, key, velocity)
        else:
            synth.noteoff(channel, key)
    if pos < total:
        out[pos:] = np.frombuffer(synth.generate_simple(total - pos), dtype=np.float32).reshape(-1, 2)
    mono = out.mean(axis=1)
    peak = float(np.abs(mono).max()) if total else 0.0
    if peak < 1e-4:
        raise DataError("render produced silence")
    mono *= np.float32(PEAK / peak)
    fade = min(int(FADE_SECONDS * sample_rate), total)
    if fade:
        mono[total - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return mono
