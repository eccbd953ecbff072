"""`strata data synth|manifest` through the real CLI: success paths and one-line user errors (exit 2)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data_prep.audio_io import save_wav
from pipeline.cli import main
from pipeline.errors import UserError


@pytest.fixture()
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STRATA_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("STRATA_CACHE", str(tmp_path / "cache"))
    return tmp_path / "runs"


def _one_line_error(capsys: pytest.CaptureFixture, code: int, needle: str) -> None:
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("strata: error:") and needle in err, err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["data", "synth", "--num-clips", "2"], "exactly one of --out"),
        (["data", "synth", "--out", "x", "--run", "r"], "exactly one of --out"),
        (["data", "synth", "--run", "missing"], "does not exist"),
        (["data", "synth", "--out", "OUT", "--num-clips", "2", "--melody-pairs", "3"], "--melody-pairs"),
        (["data", "synth", "--out", "OUT", "--num-clips", "0"], "--num-clips"),
        (["data", "synth", "--out", "OUT", "--soundfont", "/no/such.sf2"], "soundfont not found"),
        (["data", "synth", "--out", "OUT", "--num-clips", "x"], "invalid int"),
        (["data", "manifest", "--audio-dir", "/no/such/dir", "--out", "OUT/m.jsonl"], "audio folder not found"),
        (["data", "manifest", "--out", "m.jsonl"], "--audio-dir"),
        (["data", "manifest", "--audio-dir", "AUDIO", "--out", "OUT/m.jsonl", "--split-by", "segments",
          "--segment-seconds", "0"], "--segment-seconds"),
        (["data", "manifest", "--audio-dir", "AUDIO", "--out", "OUT/m.jsonl", "--split-by", "segments",
          "--segment-seconds", "-3"], "--segment-seconds"),
        (["data", "manifest", "--audio-dir", "AUDIO", "--out", "OUT/m.jsonl", "--split-by", "segments",
          "--segment-seconds", "nan"], "--segment-seconds"),
        (["data", "manifest", "--audio-dir", "AUDIO", "--out", "OUT/m.jsonl", "--split-by", "bars"], "--split-by"),
        (["data"], "choose synth or manifest"),
    ],
)
def test_user_errors_exit_2_with_one_line(argv: list[str], needle: str, runs: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    save_wav(tmp_path / "audio" / "a.wav", np.full(800, 0.2, np.float32), 8000)
    argv = [a.replace("OUT", str(tmp_path / "out")).replace("AUDIO", str(tmp_path / "audio")) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    _one_line_error(capsys, code, needle)
    assert not (tmp_path / "out").exists()


def test_synth_into_a_run_uses_its_profile(runs: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["init", "--run", "r1", "--profile", "tiny", "data.sources=[folk]", "data.seconds=1.0"]) == 0
    assert main(["--quiet", "data", "synth", "--run", "r1", "--num-clips", "2", "--melody-pairs", "0", "--workers", "1"]) == 0
    assert "wrote 2 clips" in capsys.readouterr().out
    rows = [json.loads(line) for line in (runs / "r1" / "data" / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["seconds"] == 1.0 and r["attributes"]["source"] == "folk" for r in rows)
    assert main(["--quiet", "data", "synth", "--run", "r1", "--num-clips", "2", "--melody-pairs", "0", "--workers", "2"]) == 0
    assert "0 rendered, 2 kept" in capsys.readouterr().out


def test_manifest_into_a_run(runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    audio = tmp_path / "mine"
    audio.mkdir()
    save_wav(audio / "a.wav", np.full(800, 0.2, np.float32), 8000)
    (audio / "b.wav").write_text("junk")
    assert main(["init", "--run", "r2", "--profile", "tiny"]) == 0
    assert main(["data", "manifest", "--audio-dir", str(audio), "--run", "r2"]) == 0
    out = capsys.readouterr().out
    assert "wrote 1 clips" in out and "1 unreadable" in out
    assert (runs / "r2" / "data" / "rejects.jsonl").read_text().count("\n") == 1


def test_manifest_hint_and_segment_mode(runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    audio = tmp_path / "long"
    rng = np.random.default_rng(1)
    for name in ("x.wav", "y.wav"):
        save_wav(audio / name, (0.2 * rng.standard_normal(8000 * 12)).astype(np.float32), 8000)
    assert main(["data", "manifest", "--audio-dir", str(audio), "--out", str(tmp_path / "files.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "wrote 2 clips" in out and "hint:" in out and "--split-by segments" in out
    assert main(["data", "manifest", "--audio-dir", str(audio), "--out", str(tmp_path / "seg.jsonl"),
                 "--split-by", "segments", "--segment-seconds", "4"]) == 0
    out = capsys.readouterr().out
    assert "wrote 6 segments" in out and "hint:" not in out
    rows = [json.loads(line) for line in (tmp_path / "seg.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["x@0", "x@4", "x@8", "y@0", "y@4", "y@8"]
    assert all({r["split"] for r in rows if r["id"].startswith(k)} >= {"valid", "test"} for k in "xy")


def test_codec_eval_clips_come_from_held_out_segments(runs: Path, tmp_path: Path) -> None:
    from pipeline.drivers.codec import load_eval_clips

    audio = tmp_path / "long"
    rng = np.random.default_rng(2)
    save_wav(audio / "only.wav", (0.2 * rng.standard_normal(8000 * 20)).astype(np.float32), 8000)
    out = tmp_path / "m.jsonl"
    assert main(["data", "manifest", "--audio-dir", str(audio), "--out", str(out)]) == 0
    with pytest.raises(UserError, match="no split valid/test"):
        load_eval_clips(out, 8000, 10, 3.0)
    assert main(["data", "manifest", "--audio-dir", str(audio), "--out", str(out), "--split-by", "segments",
                 "--segment-seconds", "5"]) == 0
    clips = load_eval_clips(out, 8000, 10, 3.0)
    assert sorted(c.id for c in clips) == ["only@10", "only@15"] and all(c.wav.shape[0] == 3 * 8000 for c in clips)
