"""The demo driver on a tiny random run: every clip kind is generated and REPORT.md links them all."""
import json

import torch

from data_prep.audio_io import save_wav
from pipeline.demo import Demo, run_demo

from .tiny_run import build_tiny_run


def _fake_execute(calls):
    """Stands in for `strata data synth/eval/audit`: writes what those commands write."""

    def execute(argv):
        calls.append(argv)
        out = argv[argv.index("--out") + 1]
        from pathlib import Path

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if "synth" in argv:
            save_wav(out / "audio" / "c0.wav", 0.2 * torch.sin(torch.arange(24000 * 6) * 0.05), 24000)
            row = {"id": "c0", "path": "audio/c0.wav", "caption": "a calm piano", "seconds": 6.0, "sample_rate": 24000,
                   "md5": "x", "split": "test", "attributes": {}, "melody": []}
            (out / "manifest.jsonl").write_text(json.dumps(row) + "\n")
        elif "eval" in argv:
            (out / "metrics.md").write_text("# Metrics\n\n| metric | value |\n|---|---|\n| CLAP score | 0.1 |\n")
        else:
            (out / "report.md").write_text("# Audit\n\nExact matches: 0\n\n![plot](match_rates.png)\n")
        return 0

    return execute


def test_demo_writes_every_clip_and_the_report(tmp_path):
    run = build_tiny_run(tmp_path / "w", melody=True)
    calls = []
    demo = Demo(run, tmp_path / "demo", seconds=1.0, log=lambda s: None)
    report = run_demo(demo, _fake_execute(calls)).read_text()
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
    assert [a[1] for a in calls] == ["data", "eval", "audit"]
