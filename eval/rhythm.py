"""Signal check that needs no trained model: clicks at the joins of windowed generation."""
from __future__ import annotations

import torch


def seam_ratio(wav: torch.Tensor, sample_rate: int, joins_s: list[float], window_s: float = 0.01) -> float:
    """Largest first difference within ±window of each join, over the 99th percentile of first differences elsewhere.

    A click at a join makes this well above 1; a seamless join keeps it near or below the clip's own peaks.
    """
    diff = wav.float().diff().abs()
    half = max(1, int(window_s * sample_rate))
    mask = torch.zeros_like(diff, dtype=torch.bool)
    peaks = []
    for t in joins_s:
        i = int(t * sample_rate)
        lo, hi = max(0, i - half), min(diff.numel(), i + half)
        if hi > lo:
            mask[lo:hi] = True
            peaks.append(float(diff[lo:hi].max()))
    rest = diff[~mask]
    if not peaks or rest.numel() == 0:
        return float("nan")
    return max(peaks) / max(float(torch.quantile(rest, 0.99)), 1e-9)
