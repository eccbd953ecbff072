"""`strata bench` registry: each benchmark is a function returning named figures (ratios or rates).

Benchmarks are listed by import path so that running one never imports the others' heavy deps.
Every figure in one benchmark is measured in the same process, side by side.
"""
from __future__ import annotations

import importlib
import json
import platform
import time
from pathlib import Path
from typing import Any, Callable

from training.files import atomic_write_text

BENCHMARKS: dict[str, str] = {
    "codec": "eval.bench.codec:bench_codec",
    "tokens": "eval.bench.tokens:bench_tokens",
    "config": "pipeline.bench.profile_load:bench_config_load",
    "synth": "eval.bench.synth:bench_synth",
    "audit": "eval.bench.audit:bench_audit",
    "generate": "pipeline.bench.generate:bench_generate",
    "stages": "eval.bench.stage_speed:bench_stages",
    "device": "eval.bench.device:bench_device",
    "threads": "pipeline.bench.threads:bench_threads",
}


def resolve(name: str) -> Callable[..., dict[str, Any]]:
    """Import the benchmark function registered as `name`."""
    module, func = BENCHMARKS[name].split(":")
    return getattr(importlib.import_module(module), func)


def run_benchmarks(names: list[str], out: Path, quick: bool = False) -> dict[str, Any]:
    """Run the named benchmarks, write one JSON of all figures to `out`, and return it."""
    report: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "processor": platform.processor()},
        "quick": quick,
        "benchmarks": {},
    }
    for name in names:
        start = time.perf_counter()
        figures = resolve(name)(quick=quick)
        report["benchmarks"][name] = {"figures": figures, "wall_s": round(time.perf_counter() - start, 3)}
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    return report
