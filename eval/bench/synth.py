"""`strata bench synth`: synthetic-corpus throughput, cold (parsing scores) and warm (parsed-note cache), side by side."""
from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from data_prep.synth.config import SynthConfig
from data_prep.synth.corpus import build_corpus

TARGET_SECONDS_FOR_1000 = 300.0


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished worker processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bench_synth(quick: bool = False) -> dict[str, Any]:
    """Clips per second for ten-second clips with 2 workers, and the projected time for 1,000 clips.

    Wall-clock figures depend on how busy the machine is; the `_idle_2_cores` projections divide the measured CPU
    time (this process plus its workers) by two cores, i.e. what an otherwise idle 2-core machine would take.
    """
    clips = 16 if quick else 100
    figures: dict[str, Any] = {"clips": clips, "clip_seconds": 10.0, "workers": 2, "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="strata-bench-synth-") as tmp:
        root = Path(tmp)
        cfg = SynthConfig(num_clips=clips, seconds=10.0, workers=2, melody_pairs=clips // 20, seed=11,
                          cache_dir=str(root / "notes"))
        for label, out in (("cold", root / "cold"), ("warm", root / "warm")):
            cpu0 = _cpu_seconds()
            start = time.perf_counter()
            build_corpus(cfg, out)
            wall = time.perf_counter() - start
            cpu = _cpu_seconds() - cpu0
            figures[f"cpu_s_per_clip_{label}"] = round(cpu / clips, 4)
            figures[f"projected_s_per_1000_clips_{label}_idle_2_cores"] = round(1000 * cpu / clips / 2, 1)
            figures[f"clips_per_s_{label}"] = round(clips / wall, 3)
            figures[f"projected_s_per_1000_clips_{label}"] = round(1000 * wall / clips, 1)
            figures[f"audio_s_per_wall_s_{label}"] = round(clips * 10.0 / wall, 2)
    figures["target_s_per_1000_clips"] = TARGET_SECONDS_FOR_1000
    figures["meets_target_cold"] = figures["projected_s_per_1000_clips_cold"] <= TARGET_SECONDS_FOR_1000
    figures["meets_target_cold_idle_2_cores"] = (
        figures["projected_s_per_1000_clips_cold_idle_2_cores"] <= TARGET_SECONDS_FOR_1000
    )
    return figures
