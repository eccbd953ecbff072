"""The synthetic corpus end to end on a handful of short clips: determinism, schema, splits, pairs, resume, failures."""
from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from data_prep.errors import DataError
from data_prep.manifest import file_md5, read_manifest
from data_prep.synth import corpus as corpus_mod
from data_prep.synth.arrange import beat_ql
from data_prep.synth.config import SynthConfig
from data_prep.synth.corpus import build_corpus
from data_prep.synth.sources import SOURCES, load_piece

ATTRIBUTE_KEYS = {"instruments", "family", "bpm", "tempo_word", "key", "mode", "meter", "drums", "style", "source_piece"}


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> SynthConfig:
    cache = tmp_path_factory.mktemp("notes")
    return SynthConfig(num_clips=10, seconds=2.0, sample_rate=16000, seed=3, melody_pairs=2, workers=1,
                       sources=["chorale", "fiddle", "folk"], windows_per_piece=2, valid_share=0.3, test_share=0.3,
                       cache_dir=str(cache))


@pytest.fixture(scope="module")
def built(cfg: SynthConfig, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    one = tmp_path_factory.mktemp("w1")
    two = tmp_path_factory.mktemp("w2")
    build_corpus(cfg, one)
    build_corpus(dataclasses.replace(cfg, workers=2), two)
    return one, two


def test_same_arguments_give_identical_bytes_for_any_worker_count(built: tuple[Path, Path]) -> None:
    one, two = built
    assert (one / "manifest.jsonl").read_bytes() == (two / "manifest.jsonl").read_bytes()
    wavs = sorted(p.name for p in (one / "audio").glob("*.wav"))
    assert len(wavs) == 10 and wavs == sorted(p.name for p in (two / "audio").glob("*.wav"))
    for name in wavs:
        assert (one / "audio" / name).read_bytes() == (two / "audio" / name).read_bytes()


def test_manifest_schema_and_audio(built: tuple[Path, Path], cfg: SynthConfig) -> None:
    records = read_manifest(built[0] / "manifest.jsonl", check_files=True)
    assert [r["id"] for r in records] == [f"synth-{i:05d}" for i in range(10)]
    for r in records:
        assert ATTRIBUTE_KEYS <= set(r["attributes"])
        assert r["split"] in ("train", "valid", "test")
        assert r["seconds"] == cfg.seconds and r["sample_rate"] == cfg.sample_rate
        assert r["md5"] == file_md5(r["path"])
        info = sf.info(r["path"])
        assert info.samplerate == cfg.sample_rate and info.frames == int(cfg.seconds * cfg.sample_rate)
        assert isinstance(r["caption"], str) and r["caption"] == r["captions"][0]
        assert r["melody"], "every clip has a top voice"
        onsets = [n[0] for n in r["melody"]]
        assert onsets == sorted(onsets)
        for onset, dur, midi in r["melody"]:
            assert 0 <= onset < cfg.seconds and dur > 0 and onset + dur <= cfg.seconds + 1e-3
            assert 20 <= midi <= 110 and isinstance(midi, int)
        assert r["attributes"]["source"] in cfg.sources
    rel = [json.loads(line)["path"] for line in (built[0] / "manifest.jsonl").read_text().splitlines()]
    assert all(p.startswith("audio/") for p in rel)


def test_sources_are_drawn_evenly(built: tuple[Path, Path]) -> None:
    records = read_manifest(built[0] / "manifest.jsonl")
    units = defaultdict(int)
    for r in records:
        if r.get("melody_group") is None:
            units[r["attributes"]["source"]] += 1
    counts = sorted(units.values())
    assert counts[-1] - counts[0] <= 1


def test_splits_are_assigned_by_source_piece(built: tuple[Path, Path]) -> None:
    records = read_manifest(built[0] / "manifest.jsonl")
    splits = defaultdict(set)
    for r in records:
        splits[r["attributes"]["source_piece"]].add(r["split"])
    assert all(len(s) == 1 for s in splits.values())
    assert len({s for v in splits.values() for s in v}) >= 2


def test_windows_start_on_bar_lines(built: tuple[Path, Path], cfg: SynthConfig) -> None:
    for r in read_manifest(built[0] / "manifest.jsonl"):
        a = r["attributes"]
        piece = load_piece(a["source_piece"], SOURCES[a["source"]], Path(cfg.cache_dir))
        start = a["start_beat"] * beat_ql(a["meter"])
        assert min(abs(start - b) for b in piece.bars) < 1e-6


def test_melody_pairs_share_a_window_with_different_instruments(built: tuple[Path, Path]) -> None:
    groups = defaultdict(list)
    for r in read_manifest(built[0] / "manifest.jsonl"):
        if r.get("melody_group"):
            groups[r["melody_group"]].append(r)
    assert len(groups) == 2
    for members in groups.values():
        a, b = members
        assert a["attributes"]["family"] != b["attributes"]["family"]
        for key in ("source_piece", "start_beat", "bpm", "key", "split"):
            assert a["attributes"].get(key, a.get(key)) == b["attributes"].get(key, b.get(key))
        times_a = [(n[0], n[1]) for n in a["melody"]]
        assert times_a == [(n[0], n[1]) for n in b["melody"]]
        diffs = {(x[2] - y[2]) % 12 for x, y in zip(a["melody"], b["melody"])}
        assert diffs == {0}, "same notes up to octave"


def test_resume_redoes_only_missing_clips(cfg: SynthConfig, tmp_path: Path) -> None:
    small = dataclasses.replace(cfg, num_clips=4, melody_pairs=0)
    first = build_corpus(small, tmp_path)
    assert first["rendered"] == 4
    before = (tmp_path / "manifest.jsonl").read_bytes()
    (tmp_path / "audio" / "synth-00002.wav").unlink()
    again = build_corpus(small, tmp_path)
    assert again["rendered"] == 1 and again["reused"] == 3
    assert (tmp_path / "manifest.jsonl").read_bytes() == before
    with pytest.raises(DataError, match="different settings"):
        build_corpus(dataclasses.replace(small, seed=99), tmp_path)


def test_failed_pieces_are_replaced(cfg: SynthConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = corpus_mod.load_piece
    failed: list[str] = []

    def flaky(ref, source, cache_dir):
        if source.name == "folk" and not failed:
            failed.append(ref)
            raise ValueError("unreadable score")
        return real(ref, source, cache_dir)

    monkeypatch.setattr(corpus_mod, "load_piece", flaky)
    small = dataclasses.replace(cfg, num_clips=3, melody_pairs=0)
    summary = build_corpus(small, tmp_path)
    assert summary["clips"] == 3 and summary["replaced_pieces"] == 1
    pieces = {r["attributes"]["source_piece"] for r in read_manifest(tmp_path / "manifest.jsonl")}
    assert failed[0] not in pieces


def test_bad_settings_are_user_errors(cfg: SynthConfig, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="melody-pairs"):
        build_corpus(dataclasses.replace(cfg, num_clips=2, melody_pairs=2), tmp_path)
    with pytest.raises(DataError, match="unknown synth source"):
        build_corpus(dataclasses.replace(cfg, sources=["jazz"]), tmp_path)
    with pytest.raises(DataError, match="soundfont not found"):
        build_corpus(dataclasses.replace(cfg, soundfont=str(tmp_path / "none.sf2")), tmp_path)


def test_audio_is_not_silent(built: tuple[Path, Path]) -> None:
    for r in read_manifest(built[0] / "manifest.jsonl"):
        data, _ = sf.read(r["path"])
        assert np.abs(data).max() > 0.5
