"""Turn a parsed piece into one clip: window on a bar line, transposition, tempo, line-up, drums, melody, attributes."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .captions import key_name, tempo_word
from .instruments import FAMILY_WORDS, Instrument, LineUp, choose_lineup
from .render import DRUM_CHANNEL, NoteEvent
from .sources import PieceNotes

# Speed of the music in quarter notes per minute, by style; the stated BPM counts the meter's beat.
QPM_RANGES: dict[str, tuple[float, float]] = {
    "chorale": (60, 96), "renaissance polyphony": (90, 132), "folk song": (80, 132),
    "reel": (170, 215), "hornpipe": (140, 180), "jig": (150, 186), "slip jig": (150, 186),
    "strathspey": (110, 140), "highland fling": (140, 170), "clog": (140, 180), "air": (60, 84),
    "waltz": (120, 160), "march": (100, 124), "polka": (130, 160), "slide": (170, 200),
    "walkaround": (110, 140), "schottische": (110, 140), "mazurka": (110, 140), "fiddle tune": (110, 160),
}
STILL_STYLES = ("chorale", "renaissance polyphony", "air")
KICK, SNARE, HAT = 36, 38, 42


@dataclass
class Shared:
    """Decisions shared by every clip of a same-melody group: window, transposition, tempo, drums."""

    start_ql: float
    transpose: int
    bpm: int
    drums: bool


@dataclass
class Clip:
    """A clip ready to render: note events, channel programs, melody notes (s, s, midi) and attributes."""

    events: list[NoteEvent]
    programs: dict[int, int]
    melody: list[list[float]]
    attributes: dict[str, Any]


def beat_ql(meter: str) -> float:
    """Length of the counted beat in quarter notes: dotted quarter in compound meters, else 4/denominator."""
    num, den = (int(x) for x in meter.split("/"))
    if den == 8 and num % 3 == 0 and num >= 6:
        return 1.5
    return 4.0 / den


def bar_ql(meter: str) -> float:
    num, den = (int(x) for x in meter.split("/"))
    return num * 4.0 / den


def choose_shared(piece: PieceNotes, rng: np.random.Generator, slot: int, slots: int, seconds: float,
                  drum_probability: float) -> Shared:
    """Pick tempo, a bar-line window start (slot j of `slots` spreads windows over the piece), transposition, drums."""
    meter = piece.meter_at(piece.bars[0])
    lo, hi = QPM_RANGES.get(piece.style, QPM_RANGES["fiddle tune"])
    beat = beat_ql(meter)
    bpm = int(rng.integers(math.ceil(lo / beat), math.floor(hi / beat) + 1))
    window = seconds * bpm * beat / 60.0
    fits = [b for b in piece.bars if b + window <= piece.length + 1e-6] or [piece.bars[0]]
    lo_i = len(fits) * slot // slots
    hi_i = max(lo_i + 1, len(fits) * (slot + 1) // slots)
    start = fits[int(rng.integers(lo_i, hi_i))]
    transpose = int(rng.integers(-5, 7))
    p = drum_probability / 2 if piece.style in STILL_STYLES else drum_probability
    return Shared(start_ql=start, transpose=transpose, bpm=bpm, drums=bool(rng.random() < p))


def _window_notes(part: list[list[float]], start: float, end: float, period: float) -> list[list[float]]:
    """Notes of `part` overlapping [start, end) in quarter notes, the piece looped every `period` if too short."""
    out = []
    reps = 0 if end <= period else int(math.ceil((end - period) / period))
    for r in range(reps + 1):
        shift = r * period
        for onset, dur, midi in part:
            a, b = onset + shift, onset + shift + dur
            if a < end and b > start:
                out.append([max(a, start) - start, min(b, end) - start, midi])
    out.sort()
    return out


def _single_line(notes: list[list[float]]) -> list[list[float]]:
    """Highest note per onset, each cut at the next onset: a monophonic line [start, end, midi]."""
    line: list[list[float]] = []
    for a, b, m in notes:
        if line and abs(line[-1][0] - a) < 1e-9:
            line[-1][2] = max(line[-1][2], m)
            line[-1][1] = max(line[-1][1], b)
            continue
        if line and line[-1][1] > a:
            line[-1][1] = a
        line.append([a, b, m])
    return [n for n in line if n[1] - n[0] > 1e-9]


def _octave_fit(pitches: list[float], low: float, high: float, centre: float) -> int:
    """Octave shift (semitones) leaving fewest notes outside [low, high], then closest to `centre`."""
    arr = np.asarray(pitches)
    best = None
    for k in (0, -12, 12, -24, 24):
        outside = int(((arr + k < low) | (arr + k > high)).sum())
        score = (outside, abs(float(arr.mean()) + k - centre))
        if best is None or score < best[0]:
            best = (score, k)
    return best[1]


def _drum_events(meter: str, seconds: float, sec_per_ql: float, rng: np.random.Generator) -> list[NoteEvent]:
    """A kick/snare/hi-hat groove locked to the meter's beat, starting on the window's first bar line."""
    beat = beat_ql(meter) * sec_per_ql
    beats_per_bar = max(1, int(round(bar_ql(meter) / beat_ql(meter))))
    sub = 3 if beat_ql(meter) == 1.5 else 2
    events = []
    n_beats = int(math.ceil(seconds / beat))
    for i in range(n_beats):
        t = i * beat
        pos = i % beats_per_bar
        if pos == 0 or (beats_per_bar == 4 and pos == 2):
            events.append(NoteEvent(DRUM_CHANNEL, KICK, 100, t, t + 0.1))
        elif beats_per_bar in (2, 4) or (beats_per_bar == 3 and pos == 2):
            events.append(NoteEvent(DRUM_CHANNEL, SNARE, 88, t, t + 0.1))
        for s in range(sub):
            ts = t + s * beat / sub
            events.append(NoteEvent(DRUM_CHANNEL, HAT, 52 + int(rng.integers(0, 12)) + (10 if s == 0 else 0), ts, ts + 0.05))
    return events


def arrange(piece: PieceNotes, shared: Shared, lineup: LineUp, seconds: float, polyphonic: bool,
            rng: np.random.Generator) -> Clip:
    """Build the events, melody and attributes of one clip of `piece` played by `lineup`."""
    meter = piece.meter_at(shared.start_ql)
    beat = beat_ql(meter)
    sec_per_ql = 60.0 / (shared.bpm * beat)
    window = seconds / sec_per_ql
    bar = bar_ql(meter)
    period = max(bar, math.ceil(piece.length / bar - 1e-9) * bar)
    parts = [_window_notes(p, shared.start_ql, shared.start_ql + window, period) for p in piece.parts]
    if not polyphonic:
        parts = [_single_line(parts[0])]
    parts = [p for p in parts if p] if polyphonic else parts
    if not parts or not parts[0]:
        raise ValueError(f"{piece.ref}: empty window at {shared.start_ql}")
    members: list[Instrument] = lineup.instruments()
    voices: list[tuple[list[list[float]], Instrument, int]] = []
    if polyphonic:
        for i, notes in enumerate(parts):
            m = 0 if len(parts) == 1 else round(i * (len(members) - 1) / (len(parts) - 1))
            voices.append((notes, members[m], 0))
        pitches = [n[2] + shared.transpose for p in parts for n in p]
        low = min(m.low for m in members)
        high = max(m.high for m in members)
        octave = _octave_fit(pitches, low, high, (low + high) / 2)
    else:
        offsets = lineup.octaves or (0,)
        for m, off in zip(members, offsets):
            voices.append((parts[0], m, off))
        pitches = [n[2] + shared.transpose for n in parts[0]]
        octave = _octave_fit(pitches, members[0].low, members[0].high, members[0].centre)
    shift = shared.transpose + octave
    events: list[NoteEvent] = []
    programs: dict[int, int] = {}
    for v, (notes, inst, off) in enumerate(voices):
        channel = v if v < DRUM_CHANNEL else v + 1
        programs[channel] = inst.program
        base = 100 if v == 0 else 82
        for a, b, midi in notes:
            key = int(midi) + shift + off
            if 0 <= key <= 127:
                vel = base + int(rng.integers(-8, 9))
                events.append(NoteEvent(channel, key, vel, a * sec_per_ql, b * sec_per_ql))
    if shared.drums:
        programs[DRUM_CHANNEL] = 0
        events.extend(_drum_events(meter, seconds, sec_per_ql, rng))
    top = _single_line(parts[0])
    melody = [[round(a * sec_per_ql, 4), round((b - a) * sec_per_ql, 4), int(m) + shift] for a, b, m in top]
    mode = piece.mode
    playing = list(dict.fromkeys(inst.name for _, inst, _ in voices))
    ensemble = lineup.name
    if polyphonic and len(voices) < len(members) and len(playing) > 1:
        ensemble = " and ".join(playing)
    attributes = {
        "instruments": playing,
        "family": lineup.family,
        "family_word": FAMILY_WORDS[lineup.family],
        "ensemble": ensemble,
        "texture": "solo" if lineup.solo else "ensemble",
        "voices": len(parts),
        "bpm": shared.bpm,
        "tempo_word": tempo_word(shared.bpm),
        "key": key_name(piece.tonic + shared.transpose, mode),
        "mode": mode,
        "meter": meter,
        "drums": shared.drums,
        "style": piece.style,
        "source": piece.source,
        "source_piece": piece.ref,
        "title": piece.title,
        "transpose": shift,
        "start_beat": shared.start_ql / beat,
    }
    return Clip(events=events, programs=programs, melody=melody, attributes=attributes)


def choose_lineups(rng_first: np.random.Generator, rng_second: np.random.Generator | None,
                   polyphonic: bool) -> tuple[LineUp, LineUp | None]:
    """Line-up of a clip, and of its same-melody partner from another family when there is one."""
    first = choose_lineup(rng_first, polyphonic)
    second = choose_lineup(rng_second, polyphonic, exclude_family=first.family) if rng_second is not None else None
    return first, second
