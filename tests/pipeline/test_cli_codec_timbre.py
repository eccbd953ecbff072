"""`strata eval codec --timbre`: one clean-trained judge scores held-out clips clean and via one or two codecs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_prep.codec import CodecTokenizer
from pipeline.cli import main
from tests.data_prep.codec_helpers import tiny_config


def test_timbre_eval_scores_the_run_codec_beside_a_baseline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("STRATA_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("STRATA_CACHE", str(tmp_path / "cache"))
    assert main(["init", "--run", "t", "--profile", "tiny", "data.seconds=1.0", "data.valid_share=0.15",
                 "data.test_share=0.15"]) == 0
    assert main(["--quiet", "data", "synth", "--run", "t", "--num-clips", "48", "--melody-pairs", "0", "--workers", "1"]) == 0
    run = tmp_path / "runs" / "t"
    CodecTokenizer.from_config(tiny_config()).save(run / "tokenizers" / "codec.pt")
    CodecTokenizer.from_config(tiny_config(lstm=0)).save(tmp_path / "other.pt")
    capsys.readouterr()
    argv = ["eval", "codec", "--run", "t", "--timbre", "--clips", "8", "--seconds", "1", "--judge-clips", "16"]
    assert main(argv + ["--baseline", str(tmp_path / "other.pt")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("clean: family=") and "baseline: family=" in out
    metrics = json.loads((run / "reports" / "codec_timbre" / "metrics.json").read_text())
    assert set(metrics["accuracy"]) == {"clean", "codec", "baseline"} and metrics["test_clips"] == 8
    assert all(0.0 <= acc["family"] <= 1.0 for acc in metrics["accuracy"].values())
    assert main(argv + ["--baseline", str(tmp_path / "missing.pt")]) == 2
