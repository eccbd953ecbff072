"""How many threads a Strata process computes with, and how idle OpenMP threads wait.

Precedence: `--threads N`, then STRATA_THREADS, then an OMP_NUM_THREADS the user set, then the machine's free
cores (usable cores minus the 1-minute load average, at least 1). OpenMP threads wait passively (they sleep instead
of spinning), so two Strata jobs on one machine share it instead of burning each other's cores.
"""
from __future__ import annotations

import os
import sys
from typing import Mapping

from .errors import UserError

ENV_VAR = "STRATA_THREADS"


def set_passive_wait() -> None:
    """Ask OpenMP for a passive wait policy; it takes effect only if torch is not imported yet."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def free_cores() -> int:
    """Cores this process may use minus the 1-minute load average, at least 1."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return max(1, usable - int(round(load)))


def thread_count(flag: int | None, env: Mapping[str, str] | None = None) -> int | None:
    """The intra-op thread count to use, or None to keep the user's OMP_NUM_THREADS; UserError on a bad value."""
    env = os.environ if env is None else env
    if flag is not None:
        return _positive(flag, "--threads")
    if env.get(ENV_VAR, "").strip():
        raw = env[ENV_VAR].strip()
        try:
            value = int(raw)
        except ValueError:
            raise UserError(f"{ENV_VAR} must be a whole number of threads, got {raw!r}") from None
        return _positive(value, ENV_VAR)
    if env.get("OMP_NUM_THREADS", "").strip():
        return None
    return free_cores()


def apply_threads(flag: int | None) -> int | None:
    """Set torch's intra-op thread count (or the environment torch reads on import); returns it (None: left as is)."""
    count = thread_count(flag)
    if count is None:
        return None
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(count)
    else:
        os.environ["OMP_NUM_THREADS"] = str(count)
        os.environ["MKL_NUM_THREADS"] = str(count)
    return count


def _positive(value: int, name: str) -> int:
    if value < 1:
        raise UserError(f"{name} must be at least 1, got {value}")
    return value
