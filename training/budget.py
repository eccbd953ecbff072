"""The wall-clock budget (`max_minutes`) that every trainer stops at, checkpointed and resumable."""
from __future__ import annotations

import math
import time


class Budget:
    """A wall-clock allowance of `max_minutes` (None: unlimited) counted from `start` (time.monotonic(), default now)."""

    def __init__(self, max_minutes: float | None, start: float | None = None):
        self.max_minutes = max_minutes
        self.start = time.monotonic() if start is None else start
        self.seconds = math.inf if max_minutes is None else max_minutes * 60.0

    def elapsed(self) -> float:
        """Seconds since the budget's start."""
        return time.monotonic() - self.start

    def spent(self) -> bool:
        """Whether more than the allowance has passed."""
        return self.elapsed() > self.seconds

    def share(self) -> float:
        """Fraction of the allowance used so far (0.0 when unlimited, 1.0 for a zero budget)."""
        if self.max_minutes is None:
            return 0.0
        if self.seconds <= 0:
            return 1.0
        return self.elapsed() / self.seconds
