"""Benchmark of profile loading: the cost every command pays before it starts."""
from __future__ import annotations

import time
from typing import Any

from ..profile import available_profiles, load_profile


def bench_config_load(quick: bool = False) -> dict[str, Any]:
    """Profiles loaded and validated per second."""
    n = 20 if quick else 200
    names = available_profiles()
    start = time.perf_counter()
    for i in range(n):
        load_profile(names[i % len(names)], ["train.lr=1e-4"])
    return {"profiles_per_s": round(n / (time.perf_counter() - start), 1)}
