"""Time segments of long files: cutting a file into consecutive [start, end) second intervals, and checking that
segment records of one file never overlap across splits (so no audio is both trained on and held out)."""
from __future__ import annotations

import math
from typing import Any

from .errors import DataError

DEFAULT_SEGMENT_SECONDS = 30.0
MIN_SEGMENT_SECONDS = 1.0


def check_segment_seconds(value: Any) -> float:
    """`value` as a finite segment length of at least MIN_SEGMENT_SECONDS; DataError otherwise."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < MIN_SEGMENT_SECONDS:
        raise DataError(f"--segment-seconds must be a finite number of seconds >= {MIN_SEGMENT_SECONDS:g}, got {value}")
    return seconds


def segment_bounds(frames: int, sample_rate: int, seconds: float) -> list[tuple[float, float]]:
    """Consecutive (start, end) seconds tiling a file of `frames` samples, `seconds` long each.

    A tail shorter than half a segment joins the segment before it, so no segment is a sliver; a file shorter than
    one segment is one segment. Starts are rounded to microseconds; the last end is the file's exact length.
    """
    seconds = check_segment_seconds(seconds)
    length = frames / sample_rate
    count = max(1, int(length // seconds))
    if length - count * seconds >= seconds / 2:
        count += 1
    edges = [round(k * seconds, 6) for k in range(count)] + [length]
    return list(zip(edges[:-1], edges[1:]))


def format_start(start: float) -> str:
    """A segment start as it appears in ids: up to six decimals, trailing zeros dropped (30, 2.5)."""
    return f"{start:.6f}".rstrip("0").rstrip(".")


def check_disjoint_splits(records: list[dict], where: str = "manifest") -> None:
    """DataError if two records of the same file in different splits share any time (a record without start/end
    covers its whole file)."""
    by_path: dict[str, list[tuple[float, float, str, str]]] = {}
    for record in records:
        start = float(record.get("start", 0.0))
        end = float(record.get("end", math.inf))
        by_path.setdefault(record["path"], []).append((start, end, record.get("split", "train"), record["id"]))
    for intervals in by_path.values():
        if len(intervals) < 2:
            continue
        reach: dict[str, tuple[float, str]] = {}
        for start, end, split, ident in sorted(intervals):
            for other, (other_end, other_id) in reach.items():
                if other != split and other_end > start:
                    raise DataError(f"{where}: '{ident}' ({split}) overlaps '{other_id}' ({other}) in the same file")
            if end > reach.get(split, (-math.inf, ""))[0]:
                reach[split] = (end, ident)
