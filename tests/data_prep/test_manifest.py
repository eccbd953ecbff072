"""Manifest reading/writing/validation and the user-audio manifest builder (captions, rejects)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data_prep.audio_io import save_wav
from data_prep.errors import DataError
from data_prep.manifest import (
    build_user_manifest, read_captions, read_manifest, split_for, split_records, validate_record, write_manifest,
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


def test_a_record_without_split_is_a_training_record(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    bare = {k: v for k, v in _record("bare", "audio/c.wav").items() if k != "split"}
    rows = [bare, _record("t", "audio/t.wav"), {**_record("v", "audio/v.wav"), "split": "valid"},
            {**_record("x", "audio/x.wav"), "split": "test"}]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    records = read_manifest(manifest)
    assert [r["split"] for r in records] == ["train", "train", "valid", "test"]
    assert [r["id"] for r in split_records(records, "train")] == ["bare", "t"]
    assert [r["id"] for r in split_records(records, "valid", "test")] == ["v", "x"]
    assert [r["id"] for r in split_records([bare], "train")] == ["bare"]
    with pytest.raises(DataError, match="'heldout' is not one of"):
        split_records(records, "heldout")


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
    summary = build_user_manifest(audio, out, captions)
    assert (summary.rows, summary.rejected) == (2, 2) and summary.few_file_folders == [".", "live"]
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


def _long_tracks(folder: Path, seconds: float = 95.0, sr: int = 8000) -> dict[str, np.ndarray]:
    """Two long stereo tracks of seeded noise (every sample distinct enough to catch an off-by-one read)."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    tracks = {}
    for name in ("first.wav", "second.flac"):
        data = (0.3 * rng.standard_normal((int(seconds * sr), 2))).clip(-1, 1).astype(np.float32)
        sf.write(folder / name, data, sr, subtype="PCM_16")
        tracks[name], _ = sf.read(folder / name, dtype="float32", always_2d=True)
    return tracks


def test_segment_mode_holds_out_time_segments_of_two_long_tracks(tmp_path: Path) -> None:
    from data_prep.audio_io import load_record_audio

    tracks = _long_tracks(tmp_path / "music")
    out = tmp_path / "m.jsonl"
    summary = build_user_manifest(tmp_path / "music", out, split_by="segments", segment_seconds=30)
    records = read_manifest(out, check_files=True)
    assert summary.rows == len(records) == 6
    build_user_manifest(tmp_path / "music", tmp_path / "again.jsonl", split_by="segments", segment_seconds=30)
    assert (tmp_path / "again.jsonl").read_text() == out.read_text()
    assert [r["id"] for r in records[:3]] == ["first@0", "first@30", "first@60"]
    for name, whole in tracks.items():
        rows = sorted((r for r in records if Path(r["path"]).name == name), key=lambda r: r["start"])
        assert {r["split"] for r in rows} == {"train", "valid", "test"}
        assert rows[0]["start"] == 0 and rows[-1]["end"] == pytest.approx(95.0)
        assert all(a["end"] <= b["start"] for a, b in zip(rows, rows[1:]))
        assert [r["seconds"] for r in rows] == [30.0, 30.0, 35.0]
        for row in rows:
            wav = load_record_audio(row, 8000, allow_silent=True)
            expected = whole[round(row["start"] * 8000):round(row["end"] * 8000)].mean(axis=1)
            assert wav.shape[0] == expected.shape[0] and np.array_equal(wav.numpy(), expected)
    assert load_record_audio(records[0], 8000, max_seconds=2.0).shape[0] == 16000


def test_segment_splits_overrides_and_overlap_checks(tmp_path: Path) -> None:
    from data_prep.manifest import segment_splits

    assert segment_splits("a.wav", 10) == segment_splits("a.wav", 10)
    assert segment_splits("a.wav", 10).count("test") >= 1 and segment_splits("a.wav", 10)[5] == "test"
    _long_tracks(tmp_path / "music", seconds=40.0)
    caps = tmp_path / "caps.csv"
    caps.write_text("path,caption,split\nfirst.wav,a noisy take,test\n")
    out = tmp_path / "m.jsonl"
    build_user_manifest(tmp_path / "music", out, caps, split_by="segments", segment_seconds=10)
    records = read_manifest(out)
    first = [r for r in records if r["id"].startswith("first@")]
    assert len(first) == 4 and {r["split"] for r in first} == {"test"}
    assert {r["caption"] for r in first} == {"a noisy take"}
    bad = [dict(records[0], split="train"), dict(records[0], id="x", start=5.0, end=15.0, split="valid")]
    with pytest.raises(DataError, match="overlaps"):
        write_manifest(tmp_path / "bad.jsonl", bad)
    with pytest.raises(DataError, match="0 <= start < end"):
        validate_record(dict(records[0], start=12.0, end=10.0))
    with pytest.raises(DataError, match="go together"):
        validate_record({k: v for k, v in records[0].items() if k != "end"})
    write_manifest(tmp_path / "late.jsonl", [dict(records[0], start=30.0, end=55.0)])
    with pytest.raises(DataError, match="past the end"):
        read_manifest(tmp_path / "late.jsonl", check_files=True)


@pytest.mark.parametrize("value", [0, -5, float("nan"), float("inf"), 0.5])
def test_bad_segment_seconds_is_rejected_before_writing(tmp_path: Path, value: float) -> None:
    _tones(tmp_path / "music", ["a.wav"])
    out = tmp_path / "m.jsonl"
    with pytest.raises(DataError, match="--segment-seconds"):
        build_user_manifest(tmp_path / "music", out, split_by="segments", segment_seconds=value)
    assert not out.exists()
