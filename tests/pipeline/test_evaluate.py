"""Whole-system eval on a tiny random run: every metric for every set, and both report files."""
import json

import torch

from data_prep.audio_io import save_wav
from pipeline.evaluate import EvalOptions, evaluate_run

from .tiny_run import build_tiny_run


def _manifest(root):
    rows = []
    for i in range(11):
        hz = 220 * (1 + i % 3)
        wav = 0.3 * torch.sin(2 * torch.pi * hz * torch.arange(24000) / 24000)
        save_wav(root / "audio" / f"c{i}.wav", wav, 24000)
        attrs = {"family": ["strings", "keys"][i % 2], "drums": i % 3 == 0, "tempo_word": ["slow", "fast"][i % 2],
                 "mode": ["major", "minor"][i % 2]}
        rows.append({"id": f"c{i}", "path": f"audio/c{i}.wav", "caption": f"clip {i} {attrs['family']}", "seconds": 1.0,
                     "sample_rate": 24000, "md5": "x", "split": "test" if i >= 8 else "train", "attributes": attrs, "melody": []})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "manifest.jsonl"


def test_eval_reports_every_metric_with_baselines(tmp_path):
    run = build_tiny_run(tmp_path / "r", melody=True)
    metrics = evaluate_run(run, EvalOptions(_manifest(tmp_path / "data"), tmp_path / "eval", num_samples=3, seconds=1.0))
    sets = {"real_test", "generated", "shuffled_prompts", "untrained_stages", "melody_conditioned"}
    assert set(metrics["fad"]) == sets and set(metrics["clap_score"]) == sets
    assert {"kl", "adherence_family", "adherence_drums", "adherence_tempo_word"} <= set(metrics)
    assert set(metrics["adherence_tempo_beat_tracker"]) == sets
    assert abs(metrics["kl"]["real_test"]) < 1e-6
    assert set(metrics["melody_chroma"]) == {"generated", "melody_conditioned"}
    md = (tmp_path / "eval" / "metrics.md").read_text()
    assert "shuffled prompts (lower bound)" in md and "untrained stages" in md and "melody-conditioned" in md
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["metrics"]["fad"]
