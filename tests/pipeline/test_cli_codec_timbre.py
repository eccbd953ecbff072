"""`strata eval codec --timbre`: one clean-trained judge scores held-out clips clean and via codecs and snapshots."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_prep.codec import CodecTokenizer
from pipeline.cli import main
from tests.data_prep.codec_helpers import tiny_config

ARGV = ["eval", "codec", "--run", "t", "--timbre", "--clips", "8", "--seconds", "1", "--judge-clips", "16"]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run "t" under tmp_path/runs: 48 one-second synthetic clips and a tiny random codec."""
    monkeypatch.setenv("STRATA_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("STRATA_CACHE", str(tmp_path / "cache"))
    assert main(["init", "--run", "t", "--profile", "tiny", "data.seconds=1.0", "data.valid_share=0.15",
                 "data.test_share=0.15"]) == 0
    assert main(["--quiet", "data", "synth", "--run", "t", "--num-clips", "48", "--melody-pairs", "0", "--workers", "1"]) == 0
    run = tmp_path / "runs" / "t"
    CodecTokenizer.from_config(tiny_config()).save(run / "tokenizers" / "codec.pt")
    return run


def test_timbre_eval_scores_the_run_codec_beside_a_baseline(run: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    CodecTokenizer.from_config(tiny_config(lstm=0)).save(tmp_path / "other.pt")
    capsys.readouterr()
    assert main(ARGV + ["--baseline", str(tmp_path / "other.pt")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("clean: family=") and "baseline: family=" in out
    metrics = json.loads((run / "reports" / "codec_timbre" / "metrics.json").read_text())
    assert set(metrics["accuracy"]) == {"clean", "codec", "baseline", "codec, codec-trained judge"}
    assert metrics["test_clips"] == 8 and "codec, codec-trained judge: family=" in out
    assert all(0.0 <= acc["family"] <= 1.0 for acc in metrics["accuracy"].values())
    assert main(ARGV + ["--baseline", str(tmp_path / "missing.pt")]) == 2


def test_timbre_curve_scores_every_snapshot_of_each_run(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    work = tmp_path / "runs" / "small" / "tokenizers" / "codec_train"
    for step, lstm in ((100, 0), (300, 1)):
        CodecTokenizer.from_config(tiny_config(lstm=lstm)).save(work / "snapshots" / f"step_{step:07d}.pt", half=True)
    # Two steps a second, logged every 100 steps: step 300 is 2.5 training minutes in.
    (work / "log.jsonl").write_text("".join(json.dumps({"step": s, "steps_per_s": 2.0}) + "\n" for s in (100, 200, 300)))
    capsys.readouterr()
    assert main(ARGV + ["--curve", "small"]) == 0
    out = capsys.readouterr().out
    assert "small/step_0000100: family=" in out and "small/step_0000300: family=" in out
    report = run / "reports" / "codec_timbre"
    metrics = json.loads((report / "metrics.json").read_text())
    points = metrics["curve"]["small"]
    assert [p["step"] for p in points] == [100, 300] and [p["minutes"] for p in points] == [0.8, 2.5]
    assert points[1]["family"] == metrics["accuracy"]["small/step_0000300"]["family"]
    assert points[0]["parameters"] < points[1]["parameters"]
    table = (report / "curve.md").read_text()
    assert "| small | " in table and f"| 300 | 2.5 | {points[1]['family']:.3f} |" in table
    assert (report / "curve.png").stat().st_size > 0
    assert main(ARGV + ["--curve", "t"]) == 2  # a run without snapshots
    assert main(["eval", "codec", "--run", "t", "--curve", "small"]) == 2  # --curve without --timbre
    assert "add --timbre" in capsys.readouterr().err
