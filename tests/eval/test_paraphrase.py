"""Paraphrased prompts: deterministic, labelled by the judge's rules, drum-free ones negated, unlike every template."""
from __future__ import annotations

import itertools
import random
import re

import numpy as np
import pytest

from data_prep.clap.free_captions import free_caption
from data_prep.errors import DataError
from data_prep.synth.captions import caption, key_name, tempo_word
from data_prep.synth.instruments import FAMILIES, lineups
from eval.judge import attribute_values
from eval.paraphrase import DRUM_NEGATIONS, paraphrase, paraphrase_set, read_paraphrase_set, write_paraphrase_set

NGRAM = 5


def _records() -> list[dict]:
    """Attributes in the corpus's schema for every line-up, both drum settings, slow and fast tempi and four modes."""
    records = []
    modes = itertools.cycle(["major", "minor", "dorian", "mixolydian"])
    bpms = itertools.cycle([58, 84, 99, 100, 132, 176])
    for family in FAMILIES:
        for lineup in lineups(family, polyphonic=False) + lineups(family, polyphonic=True):
            for drums in (False, True):
                bpm, mode = next(bpms), next(modes)
                attrs = {"instruments": list(dict.fromkeys(lineup.members)), "family": family,
                         "ensemble": lineup.name, "texture": "solo" if lineup.solo else "ensemble", "bpm": bpm,
                         "tempo_word": tempo_word(bpm), "key": key_name(2, mode), "mode": mode, "meter": "4/4",
                         "drums": drums, "style": "reel"}
                records.append({"id": f"r{len(records)}", "attributes": attrs})
    return records


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9#/'-]+", text.lower())


def _value_words(attrs: dict) -> set[str]:
    values = [attrs["ensemble"], attrs["key"], attrs["mode"], str(attrs["bpm"]), attrs["style"], attrs["meter"],
              *attrs["instruments"]]
    return {w for v in values for w in _words(v)}


def test_deterministic_and_labelled_like_the_judge() -> None:
    records = _records()
    a, b = paraphrase_set(records, seed=3), paraphrase_set(records, seed=3)
    assert a == b and len(a) == len(records)
    assert [x["caption"] for x in paraphrase_set(records, seed=4)] != [x["caption"] for x in a]
    for item, record in zip(a, records):
        assert item["id"] == record["id"]
        assert item["labels"] == attribute_values(record["attributes"])
        assert item["negated_drums"] == (not record["attributes"]["drums"])


def test_drum_status_is_always_stated_and_drum_free_clips_are_negated() -> None:
    for item in paraphrase_set(_records(), seed=0) + paraphrase_set(_records(), seed=1):
        text = item["caption"].lower()
        negated = any(n in text for n in DRUM_NEGATIONS)
        assert negated == item["negated_drums"], item["caption"]
        if not negated:
            assert re.search(r"drum|kick|snare|hi-hat", text), item["caption"]


def test_tempo_is_a_number_or_a_non_template_word() -> None:
    template_words = {"slow", "moderate", "lively", "fast", "unhurried", "medium", "relaxed", "upbeat", "brisk",
                      "quick", "energetic", "rapid", "breakneck"}
    for record, item in zip(_records(), paraphrase_set(_records(), seed=2)):
        words = set(_words(item["caption"]))
        assert str(record["attributes"]["bpm"]) in words or "pace" in words, item["caption"]
        assert not words & template_words, item["caption"]


def test_no_paraphrase_matches_or_shares_a_long_ngram_with_template_captions() -> None:
    records = _records()
    items = paraphrase_set(records, seed=0) + paraphrase_set(records, seed=1)
    for record, item in zip(records + records, items):
        attrs = record["attributes"]
        templates = {caption(attrs, np.random.default_rng(s)) for s in range(150)}
        assert item["caption"] not in templates
        grams = set()
        for text in templates:
            w = _words(text)
            grams |= {tuple(w[i:i + NGRAM]) for i in range(len(w) - NGRAM + 1)}
        values = _value_words(attrs)
        w = _words(item["caption"])
        shared = {tuple(w[i:i + NGRAM]) for i in range(len(w) - NGRAM + 1)} & grams
        assert all(set(g) <= values for g in shared), (item["caption"], shared)


def test_write_and_read_round_trip(tmp_path) -> None:
    items = paraphrase_set(_records()[:5], seed=0)
    path = tmp_path / "para.jsonl"
    write_paraphrase_set(items, path)
    assert read_paraphrase_set(path) == items
    (tmp_path / "bad.jsonl").write_text('{"id": "x"}\n')
    with pytest.raises(DataError, match="bad.jsonl:1"):
        read_paraphrase_set(tmp_path / "bad.jsonl")
    with pytest.raises(DataError):
        paraphrase(dict(_records()[0]["attributes"], family=None), np.random.default_rng(0))


def test_paraphrases_share_no_wording_with_the_free_training_captions() -> None:
    """The training captions' free wording (data_prep/clap/free_captions.py) stays out of the evaluation's set."""
    records = _records()
    for record, item in zip(records, paraphrase_set(records, seed=0)):
        attrs = record["attributes"]
        grams = set()
        for s in range(60):
            w = _words(free_caption(attrs, random.Random(s)))
            grams |= {tuple(w[i:i + 4]) for i in range(len(w) - 3)}
        w = _words(item["caption"])
        shared = {tuple(w[i:i + 4]) for i in range(len(w) - 3)} & grams
        assert all(set(g) <= _value_words(attrs) for g in shared), (item["caption"], shared)
