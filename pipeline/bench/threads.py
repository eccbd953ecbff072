"""Two Strata jobs on one machine: one generation alone, then two at once as separate processes (shipped weights).

Each job is a `strata generate` process with the default thread count and wait policy, so the figure is what a
user sees when two jobs share the machine; the slowdown ratio should stay near 2 (each job gets half), not climb
from threads spinning against each other.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..threads import free_cores

PROMPT = "a calm solo piano"
# The benchmark measures the defaults, so thread settings inherited from the caller's shell are dropped.
DROPPED_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "STRATA_THREADS", "OMP_WAIT_POLICY")


def bench_threads(quick: bool = False) -> dict[str, Any]:
    """Generation seconds (sum of stage timings) alone and with two concurrent jobs, and their ratio."""
    seconds = 2.0 if quick else 4.0
    load_before = os.getloadavg()[0]
    threads_default = free_cores()
    with tempfile.TemporaryDirectory() as tmp:
        alone = _jobs(1, seconds, Path(tmp) / "alone")
        together = _jobs(2, seconds, Path(tmp) / "together")
    return {
        "audio_seconds": seconds,
        "alone_s": round(alone[0], 2),
        "together_s": [round(t, 2) for t in together],
        "slowdown": round(max(together) / alone[0], 2),
        "default_threads": threads_default,
        "load_1min_before": round(load_before, 2),
        "cores": len(os.sched_getaffinity(0)),
    }


def _jobs(count: int, seconds: float, folder: Path) -> list[float]:
    """Start `count` generate processes at once; return each one's generation seconds from its sidecar."""
    folder.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    procs = []
    for i in range(count):
        argv = [sys.executable, "-m", "pipeline.cli", "--quiet", "generate", PROMPT, "--run", "embedded",
                "--seconds", str(seconds), "--seed", str(i), "--out", str(folder / f"job{i}.wav")]
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"benchmark job failed: {err.strip()[-300:]}")
    return [sum(json.loads((folder / f"job{i}.json").read_text())["timings_s"].values()) for i in range(count)]
