"""Freely worded training captions: family descriptions, instrument nicknames and plurals, drum negations, tempo as
a BPM number or a tempo word, and captions of two or three sentences in any order, sometimes with a sentence about
something else.

They teach the text path wording and sentence order the corpus templates never use: a caption that opens with its
drum sentence, or carries a sentence about the room, still names its instrument. Every phrase here differs from
those of the evaluation's paraphrase set (eval/paraphrase.py), so that set still measures wording the model has not
seen.
"""
from __future__ import annotations

import random
from typing import Any

FAMILY_PHRASES = {
    "keyboard": ("a keyboard player", "piano-like keys", "a key-struck instrument"),
    "organ": ("sustained organ chords", "an organist", "wind-blown pipes and reeds"),
    "plucked": ("plucked strings", "a picked string instrument", "a strummed instrument"),
    "strings": ("a string player with a bow", "bowed violin-family instruments", "a fiddle-family instrument"),
    "brass": ("a brass player", "bright brass", "valved brass horns"),
    "woodwind": ("a wind player", "woodwinds", "a reed or flute instrument"),
    "mallet": ("pitched mallet percussion", "struck tuned bars", "a mallet player"),
    "synth": ("synthesizers", "an electronic synth", "synthetic electronic tones"),
}
# Kit-part words (kick, snare, hi-hats, toms, cymbals) appear too: a text tower trained from scratch knows only the
# words its captions use, and users name a kit by its parts. The phrases still differ from the evaluation's.
DRUM_WITH = ("and a rhythm section on drums", "with a beat from a drum kit", "and a drummer playing along",
             "with a kick drum and snare underneath", "over hi-hats and a snare backbeat")
DRUM_WITHOUT = ("with the drums left out", "and nothing percussive", "with the drum kit silent",
                "with no rhythm section", "beatless", "with not one drummer", "with not any percussion at all",
                "percussionless", "with no kick drum or snare")
DRUM_SENTENCES_WITH = ("A drum kit keeps time.", "Drums thump along underneath.", "The drummer holds a steady beat.",
                       "Toms and cymbals keep the pulse.", "A kick drum and snare keep the groove.",
                       "Hi-hats tick over a snare backbeat.")
DRUM_SENTENCES_WITHOUT = ("The drums stay silent.", "Nobody plays percussion here.", "The drum kit sits this one out.",
                          "No drummer joins in.", "Not one drum is struck.", "It is free of any beat.")
ASIDES = ("Recorded close to the microphone.", "A short excerpt from a longer piece.", "Good for reading or studying.",
          "Heard on an old radio.", "The mix is clean and dry.", "It could score a film scene.")
SLOW_WORDS = ("sluggish", "calm", "easygoing", "plodding")
FAST_WORDS = ("racing", "zippy", "spirited", "rushing")
BPM_PHRASES = ("{bpm} beats to the minute", "with the metronome at {bpm}", "a tempo marking of {bpm}")
MODE_PHRASES = {"major": ("sounding happy and major", "in major tonality"),
                "minor": ("sounding sad and minor", "in minor tonality")}
MINOR_MODES = ("minor", "aeolian", "dorian", "phrygian", "locrian")
SLOW_BELOW_BPM = 100


def free_caption(attrs: dict[str, Any], rng: random.Random) -> str:
    """One freely worded caption naming the family (or an instrument), drums and tempo, and sometimes the mode."""
    inst = _instrument(attrs, rng)
    drums = rng.choice(DRUM_WITH if attrs.get("drums") else DRUM_WITHOUT)
    tempo = _tempo(attrs, rng)
    mode = rng.choice(MODE_PHRASES[_mode(attrs)]) if attrs.get("mode") and rng.random() < 0.5 else ""
    if rng.random() < 0.5:
        return _sentences(attrs, inst, tempo, mode, rng)
    grammar = rng.randrange(4)
    if grammar == 0:
        return f"{_cap(inst)}, {tempo}{', ' + mode if mode else ''}, {drums}."
    if grammar == 1:
        return f"Listen to {inst} {drums}; {tempo}{'; ' + mode if mode else ''}."
    if grammar == 2:
        return f"A clip where {inst} carries the tune{' ' + mode if mode else ''}, {tempo}, {drums}."
    return f"Background music: {inst}, {tempo}, {drums}{', ' + mode if mode else ''}."


def _sentences(attrs: dict[str, Any], inst: str, tempo: str, mode: str, rng: random.Random) -> str:
    """Two or three sentences (instrument, drums, sometimes an aside) in random order."""
    opener = rng.choice(("Played by {}", "{} in the lead", "Music for {}"))
    lead = f"{_cap(opener.format(inst))}, {tempo}{', ' + mode if mode else ''}."
    parts = [lead, rng.choice(DRUM_SENTENCES_WITH if attrs.get("drums") else DRUM_SENTENCES_WITHOUT)]
    if rng.random() < 0.4:
        parts.append(rng.choice(ASIDES))
    rng.shuffle(parts)
    return " ".join(parts)


def _instrument(attrs: dict[str, Any], rng: random.Random) -> str:
    names = [str(n) for n in (attrs.get("instruments") or [])]
    family = str(attrs.get("family") or "")
    if names and rng.random() < 0.15:
        return " and ".join(_plural(n) for n in names)
    if family not in FAMILY_PHRASES or (len(names) == 1 and rng.random() < 0.3):
        return f"a lone {names[0]}" if len(names) == 1 else " and ".join(names) or "an instrument"
    return rng.choice(FAMILY_PHRASES[family])


def _plural(name: str) -> str:
    """English plural of an instrument name ("synth lead" -> "synth leads", "brass" -> "brasses")."""
    return name + ("es" if name.endswith(("s", "x", "sh", "ch")) else "s")


def _tempo(attrs: dict[str, Any], rng: random.Random) -> str:
    bpm = attrs.get("bpm")
    if bpm is None:
        return "at its own pace"
    if rng.random() < 0.6:
        return rng.choice(BPM_PHRASES).format(bpm=int(round(float(bpm))))
    words = SLOW_WORDS if float(bpm) < SLOW_BELOW_BPM else FAST_WORDS
    return f"{rng.choice(words)} in tempo"


def _mode(attrs: dict[str, Any]) -> str:
    return "minor" if str(attrs.get("mode", "")).lower() in MINOR_MODES else "major"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]
