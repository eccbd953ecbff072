"""Natural-language captions built only from a clip's ground-truth attributes, in varied templates and orders."""
from __future__ import annotations

from typing import Any

import numpy as np

MAJOR_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MINOR_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
TEMPO_WORDS = ((70, "slow"), (95, "moderate"), (120, "lively"), (150, "fast"), (10_000, "very fast"))
TEMPO_SYNONYMS = {
    "slow": ("slow", "unhurried", "slow-paced"),
    "moderate": ("moderate", "medium", "relaxed"),
    "lively": ("lively", "upbeat", "brisk"),
    "fast": ("fast", "quick", "energetic"),
    "very fast": ("very fast", "rapid", "breakneck"),
}
STYLE_PHRASES = {
    "chorale": ("Bach chorale", "four-part chorale", "Baroque chorale harmonisation"),
    "renaissance polyphony": ("Renaissance polyphony", "Renaissance sacred polyphony", "Palestrina-style choral polyphony"),
    "folk song": ("folk song", "folk melody", "traditional folk tune"),
    "fiddle tune": ("traditional dance tune", "Celtic dance tune", "folk dance tune"),
}
METER_WORDS = {"2/4": "two-four", "3/4": "waltz time (3/4)", "4/4": "common time", "2/2": "cut time",
               "6/8": "six-eight", "9/8": "nine-eight", "12/8": "twelve-eight"}


def key_name(tonic: int, mode: str) -> str:
    """Conventional spelling of a tonic pitch class for the mode ('Bb' major, 'C#' minor)."""
    names = MAJOR_NAMES if mode in ("major", "lydian", "mixolydian") else MINOR_NAMES
    return names[tonic % 12]


def tempo_word(bpm: int) -> str:
    """The tempo word for a BPM: slow < 70 <= moderate < 95 <= lively < 120 <= fast < 150 <= very fast."""
    return next(word for limit, word in TEMPO_WORDS if bpm < limit)


def _article(phrase: str) -> str:
    return ("an " if phrase[0].lower() in "aeiou" else "a ") + phrase


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _style_phrase(style: str, rng: np.random.Generator) -> str:
    options = STYLE_PHRASES.get(style)
    if options is None:
        options = (style, f"traditional {style}", f"{style} dance tune") if style != "air" else ("air", "traditional air")
    return options[int(rng.integers(len(options)))]


def _instrument_phrase(attrs: dict[str, Any], rng: np.random.Generator) -> str:
    name = attrs["ensemble"]
    if attrs["texture"] == "solo":
        return str(rng.choice([f"solo {name}", _article(name)]))
    if name.endswith(("quartet", "ensemble", "duo")):
        return _article(name)
    return name


def caption(attrs: dict[str, Any], rng: np.random.Generator) -> str:
    """One caption for a clip's attributes; every attribute it names is true, and some are left out at random."""
    style = _style_phrase(attrs["style"], rng)
    inst = _instrument_phrase(attrs, rng)
    tempo = str(rng.choice(TEMPO_SYNONYMS[attrs["tempo_word"]]))
    key = f"{attrs['key']} {attrs['mode']}"
    bpm = f"{attrs['bpm']} BPM"
    meter = str(rng.choice([attrs["meter"], METER_WORDS.get(attrs["meter"], attrs["meter"])]))
    drums = attrs["drums"]
    drum_bits = (("with a steady drum beat", "over a drum kit", "backed by drums", "with drums keeping time")
                 if drums else ("without drums", "with no percussion", "unaccompanied by drums"))
    drum = str(rng.choice(drum_bits))
    keep = {name: rng.random() < share for name, share in
            (("key", 0.8), ("bpm", 0.75), ("meter", 0.6), ("tempo", 0.85), ("drums", 0.9 if drums else 0.4))}
    t = int(rng.integers(6))
    if t == 0:
        text = _cap(f"{_article(tempo)} {style}" if keep["tempo"] else _article(style)) + f" played on {inst}"
        if keep["key"]:
            text += f" in {key}"
        if keep["meter"]:
            text += f", {meter}"
        if keep["bpm"]:
            text += f", at {bpm}"
        if keep["drums"]:
            text += f", {drum}"
        return text + "."
    if t == 1:
        plural = attrs["texture"] != "solo" and not inst.startswith(("a ", "an "))
        head = f"{_cap(inst)} {'perform' if plural else 'performs'} {_article(style)}"
        bits = [f"in {key}" if keep["key"] else "", f"{tempo} tempo" if keep["tempo"] else "",
                f"around {bpm}" if keep["bpm"] else "", drum if keep["drums"] else ""]
        return head + "".join(f", {b}" for b in bits if b) + "."
    if t == 2:
        bits = [bpm if keep["bpm"] else "", f"{meter}" if keep["meter"] else "", key if keep["key"] else ""]
        lead = ", ".join(b for b in bits if b)
        text = f"{lead}: {style} on {inst}" if lead else f"{_cap(style)} on {inst}"
        return text + (f", {drum}." if keep["drums"] else ".")
    if t == 3:
        text = f"Instrumental {style} arranged for {inst}"
        if keep["tempo"]:
            text += f". The tempo is {tempo}" + (f" ({bpm})" if keep["bpm"] else "")
        elif keep["bpm"]:
            text += f". Tempo: {bpm}"
        if keep["key"]:
            text += f". Key of {key}"
        return text + (f", {drum}." if keep["drums"] else ".")
    if t == 4:
        parts = [f"{style}", f"{inst}"]
        if keep["key"]:
            parts.append(key)
        if keep["tempo"]:
            parts.append(tempo)
        if keep["bpm"]:
            parts.append(bpm)
        if keep["meter"]:
            parts.append(meter)
        if keep["drums"]:
            parts.append("drums" if drums else "no drums")
        order = rng.permutation(len(parts))
        return _cap(", ".join(parts[i] for i in order))
    text = _cap(inst)
    if keep["drums"]:
        text += f" {drum}"
    text += f", playing {_article(style)}"
    if keep["key"] or keep["bpm"]:
        text += " " + " ".join(b for b in (f"in {key}" if keep["key"] else "", f"at {bpm}" if keep["bpm"] else "") if b)
    if keep["tempo"]:
        text += f"; the feel is {tempo}"
    return text + "."
