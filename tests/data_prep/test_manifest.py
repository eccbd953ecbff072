"""Manifest reading/writing/validation and the user-audio manifest builder (captions, rejects)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data_prep.audio_io import save_wav
from data_prep.errors import DataError
from data_prep.manifest import (
    build_user_manifest, read_captions, read_manifest, split_for, validate_record, write_manifest,
)


def _record(ident: str, path: str = "audio/a.wav") -> dict:
    return {"id": ident, "path": path, "caption": "a tune", "seconds": 1.5, "sample_rate": 24000, "split": "train"}


def test_round_trip_resolves_relative_paths(tmp_path: Path) -> None:
    manifest = tmp_path / "sub" / "manifest.jsonl"
    write_manifest(manifest, [_record("a"), _record("b", "/abs/b.wav")])
    rows = read_manifest(manifest)
    assert rows[0]["path"] == str((tmp_path / "sub" / "audio" / "a.wav").resolve())
    assert rows[1]["path"] == "/abs/b.wav"
    assert json.loads(manifest.read_text().splitlines()[0])["path"] == "audio/a.wav"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": None}, "wrong type"),
        ({"split": "dev"}, "split 'dev'"),
        ({"seconds": 0}, "positive"),
        ({"melody": [[0.0, 1.0]]}, "melody note 0"),
        ({"sample_rate": True}, "wrong type"),
    ],
)
def test_validator_names_the_problem(change: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        validate_record({**_record("a"), **change})


def test_read_rejects_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "m.jsonl"
    bad.write_text('{"id": "a"\n')
    with pytest.raises(DataError, match="line 1: not valid JSON"):
        read_manifest(bad)
    bad.write_text(json.dumps({"id": "a", "seconds": 1}) + "\n")
    with pytest.raises(DataError, match="missing field 'path'"):
        read_manifest(bad)
    with pytest.raises(DataError, match="duplicate id"):
        write_manifest(bad, [_record("a"), _record("a")])
    with pytest.raises(DataError, match="manifest not found"):
        read_manifest(tmp_path / "none.jsonl")
    write_manifest(bad, [_record("a")])
    with pytest.raises(DataError, match="audio file missing"):
        read_manifest(bad, check_files=True)


def test_user_manifest_with_captions_and_rejects(tmp_path: Path) -> None:
    audio = tmp_path / "music"
    (audio / "live").mkdir(parents=True)
    save_wav(audio / "one.wav", np.sin(np.arange(8000) / 5.0).astype(np.float32) * 0.5, 8000)
    save_wav(audio / "live" / "two.wav", np.zeros(4000, np.float32) + 0.1, 16000)
    (audio / "notes.txt").write_text("not audio")
    (audio / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    captions = tmp_path / "caps.csv"
    captions.write_text("path,caption\none.wav,a calm sine tone\n")
    out = tmp_path / "out" / "manifest.jsonl"
    written, rejected = build_user_manifest(audio, out, captions)
    assert (written, rejected) == (2, 2)
    rows = {r["id"]: r for r in read_manifest(out, check_files=True)}
    assert rows["one"]["caption"] == "a calm sine tone" and rows["one"]["seconds"] == 1.0
    assert rows["live__two"]["caption"] is None and rows["live__two"]["sample_rate"] == 16000
    assert rows["live__two"]["seconds"] == 0.25
    rejects = [json.loads(line) for line in (out.parent / "rejects.jsonl").read_text().splitlines()]
    assert sorted(Path(r["path"]).name for r in rejects) == ["broken.wav", "notes.txt"]
    assert all(r["reason"] for r in rejects)


def test_captions_jsonl_and_errors(tmp_path: Path) -> None:
    caps = tmp_path / "caps.jsonl"
    caps.write_text(json.dumps({"file": "a.flac", "caption": " upbeat reel "}) + "\n")
    assert read_captions(caps) == {"a.flac": "upbeat reel"}
    bad = tmp_path / "caps.csv"
    bad.write_text("name,text\na,b\n")
    with pytest.raises(DataError, match="needs a 'path'"):
        read_captions(bad)
    text = tmp_path / "caps.txt"
    text.write_text("x")
    with pytest.raises(DataError, match="must be .csv or .jsonl"):
        read_captions(text)
    with pytest.raises(DataError, match="no readable audio"):
        build_user_manifest(tmp_path, tmp_path / "m.jsonl")


def test_split_is_stable_and_roughly_proportional() -> None:
    splits = [split_for(f"piece-{i}", 0.1, 0.1) for i in range(2000)]
    assert splits == [split_for(f"piece-{i}", 0.1, 0.1) for i in range(2000)]
    share = {s: splits.count(s) / len(splits) for s in ("train", "valid", "test")}
    assert 0.07 < share["test"] < 0.13 and 0.07 < share["valid"] < 0.13


def _tones(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        save_wav(folder / name, np.full(2400, 0.1, np.float32), 24000)


def test_every_folder_of_three_or_more_files_gets_valid_and_test(tmp_path):
    from data_prep.manifest import held_out_splits

    _tones(tmp_path / "music", [f"track{i:02d}.wav" for i in range(13)])
    _tones(tmp_path / "music" / "two", ["a.wav", "b.wav"])
    out = tmp_path / "m.jsonl"
    build_user_manifest(tmp_path / "music", out)
    records = read_manifest(out)
    top = [r["split"] for r in records if "two" not in r["id"]]
    assert top.count("test") >= 1 and top.count("valid") >= 1 and top.count("train") >= 9
    build_user_manifest(tmp_path / "music", tmp_path / "again.jsonl")
    assert [r["split"] for r in read_manifest(tmp_path / "again.jsonl")] == [r["split"] for r in records]
    rels = ["x/1.wav", "x/2.wav", "x/3.wav"]
    assert sorted(held_out_splits(rels).values()) == ["test", "train", "valid"]


def test_captions_split_column_overrides(tmp_path):
    _tones(tmp_path / "music", ["a.wav", "b.wav", "c.wav", "d.wav"])
    caps = tmp_path / "caps.csv"
    caps.write_text("path,caption,split\na.wav,calm,train\nb.wav,,test\nc.wav,fast,\n")
    out = tmp_path / "m.jsonl"
    build_user_manifest(tmp_path / "music", out, caps)
    by_id = {r["id"]: r for r in read_manifest(out)}
    assert by_id["a"]["split"] == "train" and by_id["b"]["split"] == "test"
    assert by_id["b"]["caption"] is None and by_id["c"]["caption"] == "fast"
