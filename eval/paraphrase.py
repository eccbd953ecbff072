"""Prompts worded unlike the training captions: synonyms, family descriptions, BPM numbers, drum negations, scenes.

Every paraphrase is built only from a clip's true attributes and always states the instrument family (by a synonym
or a description) and whether drums play, so a judge can score the generations; tempo comes as a BPM number or a
tempo word the caption templates never use, and the mode is named about half the time.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from data_prep.errors import DataError
from training.files import atomic_write_text

from .judge import attribute_values

FAMILY_DESCRIPTIONS = {
    "keyboard": ("keys", "a keyboard instrument", "hammered or quilled keys"),
    "organ": ("a bellows-driven organ sound", "reedy organ tones", "an organ-type instrument"),
    "plucked": ("a plucked string instrument", "fingerpicked strings", "strings sounded by plucking"),
    "strings": ("a bowed string instrument", "bowed strings", "something from the violin family"),
    "brass": ("brass instruments", "lip-buzzed brass", "a horn section sound"),
    "woodwind": ("a woodwind instrument", "reeds and flutes", "breathy winds"),
    "mallet": ("tuned bars struck with mallets", "a pitched mallet instrument", "wooden or metal bars under mallets"),
    "synth": ("an electronic synthesizer", "analog-style synths", "electronic oscillators"),
}
INSTRUMENT_SYNONYMS = {
    "piano": "an acoustic grand", "electric piano": "Rhodes-style keys", "harpsichord": "a clavecin",
    "pipe organ": "a church organ", "harmonium": "a pump organ", "accordion": "a squeezebox",
    "acoustic guitar": "a nylon-string guitar", "steel-string guitar": "a flat-top guitar", "harp": "a concert harp",
    "banjo": "a five-string banjo", "violin": "a violino", "viola": "an alto viola", "cello": "a violoncello",
    "double bass": "an upright bass", "string section": "a string orchestra", "fiddle": "a folk fiddle",
    "trumpet": "a valve trumpet", "trombone": "a slide trombone", "tuba": "a bass tuba", "french horn": "an orchestral horn",
    "brass section": "a horn section", "soprano saxophone": "a soprano sax", "alto saxophone": "an alto sax",
    "tenor saxophone": "a tenor sax", "baritone saxophone": "a bari sax", "oboe": "a double-reed oboe",
    "bassoon": "a double-reed bassoon", "clarinet": "a licorice stick", "flute": "a silver flute",
    "recorder": "a wooden recorder", "celesta": "a celeste", "vibraphone": "the vibes", "marimba": "a rosewood marimba",
    "xylophone": "a bright xylophone", "square-wave synth lead": "a square lead", "sawtooth synth lead": "a saw lead",
    "synth strings": "a string machine", "warm synth pad": "a soft pad", "synth bass": "a synth bassline",
}
# Each drum phrase comes as (modifier, sentence). Every drum-free one contains one of DRUM_NEGATIONS.
DRUM_NEGATIONS = ("no drums", "without percussion", "drumless", "no beat at all", "not a single drum", "percussion-free")
DRUMS_YES = (
    ("with a drum kit driving the groove", "A drum kit drives the groove."),
    ("over kick, snare and hi-hat", "Kick, snare and hi-hat sit underneath."),
    ("with a drummer laying down a beat", "A drummer lays down a beat."),
)
DRUMS_NO = (
    ("with no drums", "There are no drums."),
    ("without percussion", "It plays without percussion."),
    ("drumless", "The whole thing is drumless."),
    ("with no beat at all", "There is no beat at all."),
    ("with not a single drum", "You hear not a single drum."),
    ("percussion-free", "It stays percussion-free."),
)
SLOW_WORDS = ("leisurely", "stately", "languid", "gently paced")
FAST_WORDS = ("swift", "nimble", "hurried", "driving")
BPM_PHRASES = ("at roughly {bpm} beats a minute", "around {bpm} beats per minute", "with a pulse near {bpm} beats per minute")
MODE_PHRASES = {"major": ("in a major key", "with a bright major-key colour"),
                "minor": ("in a minor key", "with a dark minor-key colour")}


def _pick(options: Sequence[str], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


def _instrument(attrs: dict[str, Any], rng: np.random.Generator) -> str:
    """A synonym of the solo instrument, or a description of the family (always for ensembles)."""
    family = str(attrs["family"])
    names = list(attrs.get("instruments") or [])
    solo = attrs.get("texture") == "solo" and len(names) == 1 and names[0] in INSTRUMENT_SYNONYMS
    if solo and rng.random() < 0.5:
        return INSTRUMENT_SYNONYMS[names[0]]
    described = _pick(FAMILY_DESCRIPTIONS[family], rng)
    return f"a small group playing {described}" if attrs.get("texture") == "ensemble" and rng.random() < 0.5 else described


def _tempo(attrs: dict[str, Any], label: str, rng: np.random.Generator) -> str:
    if rng.random() < 0.7:
        return _pick(BPM_PHRASES, rng).format(bpm=int(attrs["bpm"]))
    return f"at a {_pick(SLOW_WORDS if label == 'slow' else FAST_WORDS, rng)} pace"


def paraphrase(attrs: dict, rng: np.random.Generator) -> str:
    """One non-template caption stating the family and drums, a tempo (BPM or a new word) and sometimes the mode."""
    labels = attribute_values(attrs)
    inst = _instrument(attrs, rng)
    tempo = _tempo(attrs, labels["tempo"], rng)
    drum_mod, drum_sentence = DRUMS_YES[int(rng.integers(len(DRUMS_YES)))] if labels["drums"] == "yes" \
        else DRUMS_NO[int(rng.integers(len(DRUMS_NO)))]
    mode = _pick(MODE_PHRASES[labels["mode"]], rng) if rng.random() < 0.5 else ""
    grammar = int(rng.integers(5))
    if grammar == 0:
        return f"The tune goes to {inst}, {tempo}{' ' + mode if mode else ''}, {drum_mod}."
    if grammar == 1:
        return f"Imagine a quiet room where {inst} is heard {tempo}{' ' + mode if mode else ''}. {drum_sentence}"
    if grammar == 2:
        return f"{_cap(drum_mod)}: {inst}{', ' + mode if mode else ''}, moving {tempo}."
    if grammar == 3:
        return f"{drum_sentence} The lead belongs to {inst}, {tempo}{', ' + mode if mode else ''}."
    return f"Picture {inst} {mode + ' ' if mode else ''}{tempo}, {drum_mod}."


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def paraphrase_set(records: Sequence[dict], seed: int = 0) -> list[dict]:
    """One paraphrased prompt per manifest record: {id, caption, labels (judge labels), negated_drums}."""
    items = []
    for index, record in enumerate(records):
        attrs = record.get("attributes") or {}
        labels = attribute_values(attrs, str(record.get("id", "?")))
        text = paraphrase(attrs, np.random.default_rng([int(seed), index]))
        items.append({"id": str(record.get("id", index)), "caption": text, "labels": labels,
                      "negated_drums": labels["drums"] == "no"})
    return items


def write_paraphrase_set(items: Sequence[dict], path: str | os.PathLike) -> None:
    """Write the items as JSON lines, atomically."""
    atomic_write_text(path, "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items))


def read_paraphrase_set(path: str | os.PathLike) -> list[dict]:
    """Read a paraphrase set written by write_paraphrase_set (DataError for a missing file or a malformed line)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"paraphrase set not found: {path}")
    items = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(f"{path}:{n} is not valid JSON") from None
        if not isinstance(item, dict) or not {"id", "caption", "labels", "negated_drums"} <= set(item):
            raise DataError(f"{path}:{n} lacks one of id, caption, labels, negated_drums")
        items.append(item)
    return items
