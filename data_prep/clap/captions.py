"""Caption augmentation for contrastive training, and the zero-shot prompts built from the same phrases.

A training caption is the clip's own caption with its clauses shuffled or dropped, a caption composed from a random
subset of the clip's attributes in random order, with synonyms, or a freely worded sentence (free_captions.py). The zero-shot
prompts use the same phrase families, so evaluation asks in the words the towers learned.
"""
from __future__ import annotations

import random
import re

from .free_captions import free_caption

SYNONYMS = {
    "drums_yes": ["with drums", "with a drum kit", "with percussion", "drums"],
    "drums_no": ["without drums", "no drums", "no percussion"],
    "tempo": ["{} tempo", "{}", "at a {} pace", "{} music"],
    "mode": ["in a {} key", "{} mode", "{}", "in {}"],
    "family": ["{} instruments", "{}", "played on {}", "{} sound"],
    "instrument": ["{}", "played on {}", "featuring {}"],
    "style": ["{}", "{} style", "a {}"],
    "bpm": ["{} bpm", "at {} bpm"],
    "key": ["in {} {}", "key of {} {}"],
}
OPENERS = ["", "", "a piece ", "music ", "a recording "]

PROMPTS = {
    "family": ["{} instruments", "{}", "music played on {}"],
    "drums": {True: ["with drums", "with percussion"], False: ["without drums", "no percussion"]},
    "tempo_word": ["{} tempo", "{} music"],
    "mode": ["in a {} key", "{} mode"],
}


def attribute_phrases(attrs: dict, rng: random.Random) -> list[str]:
    """One phrase per known attribute of a clip, each worded with a random synonym."""
    phrases = []
    if attrs.get("family"):
        names = [attrs["family"]] + ([attrs["family_word"]] if attrs.get("family_word") else [])
        phrases.append(rng.choice(SYNONYMS["family"]).format(rng.choice(names)))
    instruments = attrs.get("instruments") or []
    if isinstance(instruments, str):
        instruments = [instruments]
    if instruments:
        names = list(instruments)
        rng.shuffle(names)
        phrases.append(rng.choice(SYNONYMS["instrument"]).format(" and ".join(names)))
    if attrs.get("drums") is not None:
        phrases.append(rng.choice(SYNONYMS["drums_yes" if attrs["drums"] else "drums_no"]))
    if attrs.get("tempo_word"):
        phrases.append(rng.choice(SYNONYMS["tempo"]).format(attrs["tempo_word"]))
    if attrs.get("bpm"):
        phrases.append(rng.choice(SYNONYMS["bpm"]).format(int(round(float(attrs["bpm"])))))
    if attrs.get("mode"):
        if attrs.get("key") and rng.random() < 0.5:
            phrases.append(rng.choice(SYNONYMS["key"]).format(attrs["key"], attrs["mode"]))
        else:
            phrases.append(rng.choice(SYNONYMS["mode"]).format(attrs["mode"]))
    if attrs.get("style"):
        phrases.append(rng.choice(SYNONYMS["style"]).format(attrs["style"]))
    return phrases


def shuffle_clauses(caption: str, rng: random.Random, drop_prob: float = 0.2) -> str:
    """The caption's comma/semicolon clauses, shuffled, each dropped with `drop_prob` (at least one kept)."""
    clauses = [c.strip() for c in re.split(r"[,;]", caption) if c.strip()]
    if len(clauses) <= 1:
        return caption.strip()
    rng.shuffle(clauses)
    kept = [c for c in clauses if rng.random() >= drop_prob] or clauses[:1]
    return ", ".join(kept)


def augment_caption(record: dict, rng: random.Random, keep_prob: float = 0.5, free_prob: float = 0.0) -> str:
    """A training caption for one manifest record (see module docstring); free_prob of them are freely worded."""
    attrs = record.get("attributes") or {}
    if free_prob > 0 and attrs.get("family") and rng.random() < free_prob:
        return free_caption(attrs, rng)
    options = [c for c in (record.get("captions") or []) if c] or [record.get("caption") or ""]
    caption = str(rng.choice(options)).strip()
    phrases = attribute_phrases(attrs, rng)
    if caption and (not phrases or rng.random() < keep_prob):
        return shuffle_clauses(caption, rng)
    rng.shuffle(phrases)
    keep = rng.randint(1, len(phrases))
    return (rng.choice(OPENERS) + ", ".join(phrases[:keep])).strip()


def zero_shot_prompts(attribute: str, value: object, aliases: tuple[str, ...] = ()) -> list[str]:
    """Prompt texts asking for one attribute value (and its aliases); their embeddings are averaged."""
    spec = PROMPTS[attribute]
    if isinstance(spec, dict):
        return list(spec[bool(value)])
    names = [str(value)] + [a for a in aliases if a and a != str(value)]
    return [t.format(name) for name in names for t in spec]
