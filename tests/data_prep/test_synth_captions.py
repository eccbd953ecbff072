"""Captions state only true attributes, and vary in wording and order."""
from __future__ import annotations

import re

import numpy as np

from data_prep.synth.captions import MAJOR_NAMES, MINOR_NAMES, TEMPO_SYNONYMS, caption, key_name, tempo_word
from data_prep.synth.instruments import FAMILIES, INSTRUMENTS, choose_lineup

NOTE_NAME = r"\b([A-G](?:#|b)?) (major|minor|dorian|mixolydian)\b"
STYLES = ("chorale", "renaissance polyphony", "folk song", "reel", "jig", "hornpipe", "fiddle tune", "air")
METERS = ("2/4", "3/4", "4/4", "6/8", "2/2", "4/2")


def _attrs(rng: np.random.Generator) -> dict:
    lineup = choose_lineup(rng, polyphonic=bool(rng.random() < 0.5))
    bpm = int(rng.integers(40, 200))
    mode = str(rng.choice(["major", "minor", "dorian", "mixolydian"]))
    return {
        "instruments": list(dict.fromkeys(lineup.members)), "family": lineup.family, "ensemble": lineup.name,
        "texture": "solo" if lineup.solo else "ensemble", "bpm": bpm, "tempo_word": tempo_word(bpm),
        "key": key_name(int(rng.integers(12)), mode), "mode": mode, "meter": str(rng.choice(METERS)),
        "drums": bool(rng.random() < 0.5), "style": str(rng.choice(STYLES)),
    }


def _check(text: str, attrs: dict) -> None:
    low = text.lower()
    for number in re.findall(r"(\d+) bpm", low):
        assert int(number) == attrs["bpm"], text
    for tonic, mode in re.findall(NOTE_NAME, text):
        assert (tonic, mode) == (attrs["key"], attrs["mode"]), text
    for meter in re.findall(r"\b(\d+/\d+)\b", text):
        assert meter == attrs["meter"], text
    assert attrs["ensemble"] in low, text
    for word, synonyms in TEMPO_SYNONYMS.items():
        if word != attrs["tempo_word"]:
            for s in synonyms:
                if not any(s in t for t in TEMPO_SYNONYMS[attrs["tempo_word"]]):
                    assert not re.search(rf"(?<![\w-]){re.escape(s)}(?![\w-])", low), (s, text)
    says_drums = any(w in low for w in ("drum beat", "drum kit", "backed by drums", "drums keeping", ", drums"))
    says_none = any(w in low for w in ("without drums", "no percussion", "unaccompanied by drums", "no drums"))
    assert not (says_drums and says_none), text
    if attrs["drums"]:
        assert not says_none, text
    else:
        assert not says_drums, text
    other = [i for i in INSTRUMENTS if i not in attrs["ensemble"] and not any(i in m for m in attrs["instruments"])]
    for name in other:
        assert not re.search(rf"\b{re.escape(name)}\b", low), (name, text)


def test_every_stated_attribute_is_true() -> None:
    rng = np.random.default_rng(0)
    for _ in range(400):
        attrs = _attrs(rng)
        _check(caption(attrs, rng), attrs)


def test_captions_vary_in_wording_and_order() -> None:
    rng = np.random.default_rng(1)
    attrs = _attrs(rng)
    texts = {caption(attrs, rng) for _ in range(60)}
    assert len(texts) >= 20
    openings = {t.split()[0] for t in texts}
    assert len(openings) >= 4


def test_tempo_words_and_key_spelling() -> None:
    assert [tempo_word(b) for b in (60, 80, 100, 130, 180)] == ["slow", "moderate", "lively", "fast", "very fast"]
    assert key_name(10, "major") == "Bb" and key_name(1, "minor") == "C#" and key_name(13, "major") == "Db"
    assert len(set(MAJOR_NAMES)) == len(set(MINOR_NAMES)) == 12


def test_lineups_are_balanced_across_families() -> None:
    rng = np.random.default_rng(2)
    for polyphonic in (True, False):
        counts = {f: 0 for f in FAMILIES}
        for _ in range(1600):
            counts[choose_lineup(rng, polyphonic).family] += 1
        assert min(counts.values()) > 120, counts
