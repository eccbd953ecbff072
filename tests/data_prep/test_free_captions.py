"""Freely worded training captions state only true attributes (drums or their absence, the tempo side) in any sentence
order."""
from __future__ import annotations

import random
import re

from data_prep.clap.captions import augment_caption
from data_prep.clap.free_captions import (DRUM_SENTENCES_WITH, DRUM_SENTENCES_WITHOUT, DRUM_WITH, DRUM_WITHOUT,
                                         FAMILY_PHRASES, FAST_WORDS, SLOW_WORDS, free_caption)

WITH, WITHOUT = DRUM_WITH + DRUM_SENTENCES_WITH, DRUM_WITHOUT + DRUM_SENTENCES_WITHOUT


def _attrs(family: str, drums: bool, bpm: int) -> dict:
    return {"family": family, "instruments": ["flute"], "drums": drums, "bpm": bpm, "mode": "dorian",
            "texture": "solo"}


def test_free_captions_state_drums_and_tempo_truthfully() -> None:
    rng = random.Random(0)
    drum_first = 0
    for family in FAMILY_PHRASES:
        for drums in (False, True):
            for bpm in (64, 99, 100, 150):
                for _ in range(12):
                    text = free_caption(_attrs(family, drums, bpm), rng)
                    assert any(p in text for p in (WITH if drums else WITHOUT)), text
                    assert not any(p in text for p in (WITHOUT if drums else WITH)), text
                    assert str(bpm) in text or any(w in text for w in (SLOW_WORDS if bpm < 100 else FAST_WORDS)), text
                    assert any(p in text.lower() for p in FAMILY_PHRASES[family]) or "flute" in text.lower(), text
                    assert "major" not in text  # dorian is a minor mode
                    drum_first += text.startswith(WITH + WITHOUT)
    assert drum_first > 50  # some captions open with their drum sentence


def test_augment_caption_mixes_in_free_captions_only_when_asked() -> None:
    record = {"caption": "A folk song on flute, no drums.", "attributes": _attrs("woodwind", False, 80)}
    plain = {augment_caption(record, random.Random(s)) for s in range(40)}
    mixed = [augment_caption(record, random.Random(s), free_prob=0.5) for s in range(40)]
    assert not any(re.search("|".join(DRUM_WITHOUT), t) for t in plain)
    assert 8 < sum(bool(re.search("|".join(DRUM_WITHOUT), t)) for t in mixed) < 32


def test_free_captions_name_kit_parts_for_drum_clips() -> None:
    """Drum clips are sometimes described by the kit's parts, so the text tower learns those words; a drumless clip
    names them only to negate them."""
    rng = random.Random(1)
    kit = re.compile(r"\b(kick|snare|hi-hats?)\b", re.IGNORECASE)
    with_kit = [free_caption(_attrs("brass", True, 120), rng) for _ in range(200)]
    without = [free_caption(_attrs("brass", False, 120), rng) for _ in range(200)]
    assert 20 < sum(bool(kit.search(t)) for t in with_kit) < 150
    assert all(re.search(r"\bno\b", t) for t in without if kit.search(t))
