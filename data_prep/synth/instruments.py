"""General MIDI instruments, solo and ensemble line-ups, and a family-balanced choice of one for a clip."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Instrument:
    """A GM program (0-based) with the caption name, family and a comfortable sounding range (MIDI)."""

    name: str
    program: int
    family: str
    low: int
    high: int

    @property
    def centre(self) -> float:
        return (self.low + self.high) / 2


_TABLE = [
    ("piano", 0, "keyboard", 40, 88), ("electric piano", 4, "keyboard", 45, 84), ("harpsichord", 6, "keyboard", 41, 84),
    ("pipe organ", 19, "organ", 36, 84), ("harmonium", 20, "organ", 43, 84), ("accordion", 21, "organ", 53, 84),
    ("acoustic guitar", 24, "plucked", 45, 79), ("steel-string guitar", 25, "plucked", 45, 79),
    ("harp", 46, "plucked", 40, 88), ("banjo", 105, "plucked", 55, 79),
    ("violin", 40, "strings", 60, 93), ("viola", 41, "strings", 53, 84), ("cello", 42, "strings", 43, 72),
    ("double bass", 43, "strings", 31, 55), ("string section", 48, "strings", 48, 88), ("fiddle", 110, "strings", 60, 90),
    ("trumpet", 56, "brass", 58, 82), ("trombone", 57, "brass", 45, 70), ("tuba", 58, "brass", 31, 55),
    ("french horn", 60, "brass", 48, 74), ("brass section", 61, "brass", 48, 79),
    ("soprano saxophone", 64, "woodwind", 61, 87), ("alto saxophone", 65, "woodwind", 56, 80),
    ("tenor saxophone", 66, "woodwind", 49, 75), ("baritone saxophone", 67, "woodwind", 41, 68),
    ("oboe", 68, "woodwind", 60, 88), ("bassoon", 70, "woodwind", 38, 67), ("clarinet", 71, "woodwind", 52, 86),
    ("flute", 73, "woodwind", 62, 93), ("recorder", 74, "woodwind", 65, 88),
    ("celesta", 8, "mallet", 60, 96), ("vibraphone", 11, "mallet", 53, 89), ("marimba", 12, "mallet", 45, 84),
    ("xylophone", 13, "mallet", 65, 96),
    ("square-wave synth lead", 80, "synth", 48, 84), ("sawtooth synth lead", 81, "synth", 48, 84),
    ("synth strings", 50, "synth", 43, 84), ("warm synth pad", 89, "synth", 43, 84), ("synth bass", 38, "synth", 28, 55),
]
INSTRUMENTS: dict[str, Instrument] = {row[0]: Instrument(*row) for row in _TABLE}
FAMILIES = ("keyboard", "organ", "plucked", "strings", "brass", "woodwind", "mallet", "synth")
FAMILY_WORDS = {
    "keyboard": "keyboard", "organ": "organ", "plucked": "plucked strings", "strings": "bowed strings",
    "brass": "brass", "woodwind": "woodwinds", "mallet": "mallet percussion", "synth": "synthesizer",
}


@dataclass(frozen=True)
class LineUp:
    """What plays: one instrument per voice (polyphonic) or doublings of one line with octave offsets (monophonic)."""

    name: str
    family: str
    members: tuple[str, ...]
    octaves: tuple[int, ...] = ()

    @property
    def solo(self) -> bool:
        return len(self.members) == 1

    def instruments(self) -> list[Instrument]:
        return [INSTRUMENTS[m] for m in self.members]


# Solo instruments able to play every voice of a polyphonic piece.
_POLY_SOLOS = {
    "keyboard": ["piano", "electric piano", "harpsichord"], "organ": ["pipe organ", "harmonium", "accordion"],
    "plucked": ["acoustic guitar", "harp"], "strings": ["string section"], "brass": ["brass section"],
    "woodwind": [], "mallet": ["marimba", "vibraphone"], "synth": ["synth strings", "warm synth pad"],
}
_POLY_ENSEMBLES = [
    LineUp("string quartet", "strings", ("violin", "violin", "viola", "cello")),
    LineUp("brass quartet", "brass", ("trumpet", "trumpet", "french horn", "trombone")),
    LineUp("woodwind quartet", "woodwind", ("flute", "oboe", "clarinet", "bassoon")),
    LineUp("saxophone quartet", "woodwind", ("soprano saxophone", "alto saxophone", "tenor saxophone", "baritone saxophone")),
    LineUp("mallet ensemble", "mallet", ("xylophone", "vibraphone", "marimba", "marimba")),
    LineUp("synth ensemble", "synth", ("square-wave synth lead", "sawtooth synth lead", "synth strings", "synth bass")),
    LineUp("guitar duo", "plucked", ("steel-string guitar", "acoustic guitar")),
    LineUp("keyboard duo", "keyboard", ("harpsichord", "piano")),
    LineUp("organ and strings", "organ", ("string section", "pipe organ")),
]
_MONO_DUOS = [
    LineUp("violin and cello", "strings", ("violin", "cello"), (0, -12)),
    LineUp("two fiddles", "strings", ("fiddle", "fiddle"), (0, 0)),
    LineUp("trumpet and trombone", "brass", ("trumpet", "trombone"), (0, -12)),
    LineUp("french horn and tuba", "brass", ("french horn", "tuba"), (0, -12)),
    LineUp("flute and clarinet", "woodwind", ("flute", "clarinet"), (0, 0)),
    LineUp("oboe and bassoon", "woodwind", ("oboe", "bassoon"), (0, -12)),
    LineUp("guitar and banjo", "plucked", ("banjo", "acoustic guitar"), (0, 0)),
    LineUp("xylophone and marimba", "mallet", ("xylophone", "marimba"), (0, -12)),
    LineUp("accordion and harmonium", "organ", ("accordion", "harmonium"), (0, -12)),
    LineUp("piano in octaves", "keyboard", ("piano", "piano"), (0, -12)),
    LineUp("synth lead and bass", "synth", ("sawtooth synth lead", "synth bass"), (0, -24)),
]
# Not used alone on a single line: the bass patches sound odd as lead voices, and TimGM6mb's church organ sounds its
# 4' rank 11 dB above the fundamental (and a 16' rank beside it), so a lone organ line is heard an octave off the
# written melody (pesto tracked 53% of its frames an octave up). All three still play in ensembles and chords.
MONO_SOLOS_EXCLUDED = ("double bass", "tuba", "synth bass", "pipe organ")


def lineups(family: str, polyphonic: bool) -> list[LineUp]:
    """Every line-up of one family that suits a polyphonic or a monophonic piece."""
    if polyphonic:
        solos = [LineUp(n, family, (n,)) for n in _POLY_SOLOS[family]]
        return solos + [e for e in _POLY_ENSEMBLES if e.family == family]
    solos = [LineUp(i.name, family, (i.name,)) for i in INSTRUMENTS.values()
             if i.family == family and i.name not in MONO_SOLOS_EXCLUDED]
    return solos + [d for d in _MONO_DUOS if d.family == family]


def choose_lineup(rng: np.random.Generator, polyphonic: bool, exclude_family: str | None = None,
                  ensemble_share: float = 0.4) -> LineUp:
    """A family uniformly at random, then a solo or (with `ensemble_share`) an ensemble of that family."""
    families = [f for f in FAMILIES if f != exclude_family and lineups(f, polyphonic)]
    family = families[int(rng.integers(len(families)))]
    options = lineups(family, polyphonic)
    solos = [o for o in options if o.solo]
    groups = [o for o in options if not o.solo]
    pool = groups if groups and (not solos or rng.random() < ensemble_share) else solos
    return pool[int(rng.integers(len(pool)))]
