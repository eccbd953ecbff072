"""Melodies from outside the corpus, synthesized by the eval itself, and a pitch-class score for following them.

Each tune is a seeded random walk through a major or minor scale (mostly steps, a few leaps) at its own tempo and
transposition, sung by one of three timbres: a hummed sine with vibrato and breath noise, a whistle an octave up,
or a band-limited square wave. Notes hold a constant level with 10 ms attacks and 20 ms releases so a pitch tracker
sees clear note boundaries.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .pitch import NOTE_EDGE_SECONDS, track_pitch

TIMBRES = ("hum", "whistle", "square")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
NOTE_BEATS = (0.5, 1.0, 1.0, 1.0, 1.5, 2.0)
ATTACK_S, RELEASE_S = 0.01, 0.02
LEVEL = 0.3
HOP_S = 0.01
OFFSET_STEP_S = 0.05


@dataclass
class MelodyItem:
    """A synthesized melody: name, mono audio [T], its notes as (onset s, duration s, MIDI) and the audio's rate."""

    name: str
    wav: torch.Tensor
    notes: list[tuple[float, float, int]]
    sample_rate: int


def _tune(rng: np.random.Generator, seconds: float, low: int) -> tuple[list[tuple[float, float, int]], str, int]:
    """Notes of a random scale walk filling `seconds`, its mode and BPM; pitches start near MIDI `low` + a tonic."""
    mode = "major" if rng.random() < 0.5 else "minor"
    scale = SCALES[mode]
    tonic = low + int(rng.integers(0, 12))
    bpm = int(rng.integers(70, 151))
    beat = 60.0 / bpm
    degree, t, notes = int(rng.integers(0, 5)), 0.0, []
    while t < seconds - 0.2:
        dur = min(float(rng.choice(NOTE_BEATS)) * beat, seconds - t)
        octave, step = divmod(degree, 7)
        notes.append((round(t, 4), round(dur, 4), tonic + 12 * octave + scale[step]))
        t += dur
        r = rng.random()
        move = int(rng.choice((-1, 1))) * (1 if r < 0.7 else 2 if r < 0.85 else int(rng.integers(3, 6)))
        degree = int(np.clip(degree + move, -3, 9))
    return notes, mode, bpm


def _synth(notes: list[tuple[float, float, int]], timbre: str, sample_rate: int, seconds: float,
           rng: np.random.Generator) -> np.ndarray:
    """Render notes with one timbre: a phase-continuous oscillator under a per-note attack/hold/release envelope."""
    total = int(round(seconds * sample_rate))
    t = np.arange(total) / sample_rate
    midi = np.zeros(total)
    env = np.zeros(total)
    for onset, dur, pitch in notes:
        a, b = int(round(onset * sample_rate)), min(total, int(round((onset + dur) * sample_rate)))
        if b <= a:
            continue
        midi[a:b] = pitch
        local = np.arange(b - a) / sample_rate
        env[a:b] = np.minimum(1.0, np.minimum(local / ATTACK_S, (dur - local) / RELEASE_S)).clip(0.0, 1.0)
    depth = {"hum": 0.2, "whistle": 0.1, "square": 0.0}[timbre]
    rate = float(rng.uniform(4.5, 6.0))
    freq = 440.0 * 2.0 ** ((midi + depth * np.sin(2 * math.pi * rate * t) - 69.0) / 12.0)
    phase = 2 * math.pi * np.cumsum(freq) / sample_rate
    if timbre == "square":
        harmonics = [h for h in range(1, 40, 2)]
        wave = sum(np.where(freq * h < sample_rate / 2 * 0.9, np.sin(h * phase) / h, 0.0) for h in harmonics)
        wave = wave * (4 / math.pi) * 0.5
    else:
        wave = np.sin(phase) + (0.15 * np.sin(2 * phase) if timbre == "hum" else 0.0)
    breath = {"hum": 0.02, "whistle": 0.03, "square": 0.0}[timbre]
    noise = breath * rng.standard_normal(total)
    out = env * (wave + noise)
    peak = float(np.abs(out).max())
    return (LEVEL * out / peak if peak > 0 else out).astype(np.float32)


def melody_set(sample_rate: int, seconds: float, seed: int = 0, count: int = 8) -> list[MelodyItem]:
    """`count` seeded melodies cycling through the hum, whistle (an octave up) and square timbres."""
    items = []
    for k in range(count):
        rng = np.random.default_rng([int(seed), k])
        timbre = TIMBRES[k % len(TIMBRES)]
        low = {"hum": 50, "whistle": 62, "square": 55}[timbre]
        notes, mode, bpm = _tune(rng, seconds, low)
        wav = torch.from_numpy(_synth(notes, timbre, sample_rate, seconds, rng))
        items.append(MelodyItem(name=f"{timbre}-{k}-{mode}-{bpm}bpm", wav=wav, notes=notes, sample_rate=int(sample_rate)))
    return items


def _note_frames(notes: list[tuple[float, float, int]], hop: float) -> tuple[np.ndarray, np.ndarray]:
    """Times and MIDI pitches of the frames inside the notes, NOTE_EDGE_SECONDS trimmed at each end."""
    end = max((onset + dur for onset, dur, _ in notes), default=0.0)
    times = np.arange(int(math.ceil(end / hop)) + 1) * hop
    target = np.full(len(times), np.nan)
    for onset, dur, pitch in notes:
        inside = (times >= onset + NOTE_EDGE_SECONDS) & (times < onset + dur - NOTE_EDGE_SECONDS)
        target[inside] = pitch
    keep = ~np.isnan(target)
    return times[keep], target[keep]


def pitch_class_accuracy(notes: list[tuple[float, float, int]], wav: torch.Tensor, sample_rate: int,
                         max_offset_s: float = 0.5) -> float:
    """Best share, over time offsets within +-max_offset_s, of note frames voiced and within 50 cents in pitch class.

    Octave errors count as hits; unvoiced frames and frames shifted outside the clip are misses. NaN without notes.
    """
    times, target = _note_frames(notes, HOP_S)
    if len(times) == 0:
        return float("nan")
    track = track_pitch(wav, sample_rate, hop_seconds=HOP_S)
    steps = int(math.floor(max_offset_s / OFFSET_STEP_S + 1e-9))
    best = 0.0
    for k in range(-steps, steps + 1):
        idx = np.round((times + k * OFFSET_STEP_S) / HOP_S).astype(int)
        inside = (idx >= 0) & (idx < len(track.midi))
        safe = np.clip(idx, 0, max(len(track.midi) - 1, 0))
        if len(track.midi) == 0:
            break
        diff = np.mod(track.midi[safe] - target, 12.0)
        close = np.minimum(diff, 12.0 - diff) <= 0.5
        hits = inside & track.voiced[safe] & close
        best = max(best, float(hits.mean()))
    return best
