"""The demo driver on a tiny random run: every clip kind is generated and REPORT.md links them all."""
import json

import torch

from data_prep.audio_io import save_wav
from pipeline.demo import Demo, DemoSteps, run_demo

from .tiny_run import build_tiny_run


def _fake_steps(calls):
    """Stand in for the data synth, eval and audit library calls: each writes what the real one writes."""

    def synth(out, num_clips, seed):
        calls.append("data")
        save_wav(out / "audio" / "c0.wav", 0.2 * torch.sin(torch.arange(24000 * 6) * 0.05), 24000)
        row = {"id": "c0", "path": "audio/c0.wav", "caption": "a calm piano", "seconds": 6.0, "sample_rate": 24000,
               "md5": "x", "split": "test", "attributes": {}, "melody": []}
        (out / "manifest.jsonl").write_text(json.dumps(row) + "\n")

    def evaluate(weights, manifest, out):
        calls.append("eval")
        assert manifest.is_file()
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.md").write_text("# Metrics\n\n| metric | value |\n|---|---|\n| CLAP score | 0.1 |\n")

    def audit(weights, out):
        calls.append("audit")
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.md").write_text("# Audit\n\nExact matches: 0\n\n![plot](match_rates.png)\n")

    return DemoSteps(synth=synth, evaluate=evaluate, audit=audit)


def test_demo_writes_every_clip_and_the_report(tmp_path):
    run = build_tiny_run(tmp_path / "w", melody=True)
    calls = []
    demo = Demo(run, tmp_path / "demo", seconds=1.0, log=lambda s: None, steps=_fake_steps(calls))
    report = run_demo(demo).read_text()
    kinds = {c.title.split()[0] for c in demo.clips}
    assert kinds == {"Text", "Melody-conditioned", "Continuation", "Two-segment"}
    assert len(demo.clips) == 6
    for clip in demo.clips:
        assert clip.wav.is_file() and clip.wav.with_suffix(".png").is_file() and clip.wav.with_suffix(".json").is_file()
        assert str(clip.wav.relative_to(demo.out)) in report
    assert "## Evaluation" in report and "### Metrics" in report and "CLAP score" in report
    assert "](audit/match_rates.png)" in report
    assert "| **total** |" in report and "| story |" in report
    assert "## Seams" in report and "window joins" in report
    assert calls == ["data", "eval", "audit"]
