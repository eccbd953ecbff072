"""The delay pattern's index arithmetic, built once per (levels, frames) and checked on construction.

F frames of S levels become F + S - 1 steps of S streams: stream q of step t holds level q of frame t - q, so each
step predicts every level at once and level q still sees levels < q of its own frame one step earlier.
Cells whose frame t - q falls outside [0, F) hold a fill value (PAD: no input, no loss).
"""
from __future__ import annotations

from functools import lru_cache

import torch


class DelayPattern:
    """Where each (level, frame) of a [S,F] code block sits in the [F+S-1, S] step grid, and back."""

    def __init__(self, levels: int, frames: int) -> None:
        if levels < 1 or frames < 0:
            raise ValueError(f"a delay pattern needs levels >= 1 and frames >= 0, got {levels} and {frames}")
        self.levels = levels
        self.frames = frames
        self.steps = frames + levels - 1 if frames else 0
        level = torch.arange(levels)[:, None]
        step = torch.arange(frames)[None, :] + level  # [S,F]: the step that holds (level, frame)
        self.index = (step * levels + level).reshape(-1)  # cell of (level, frame) in the flattened [steps, S] grid
        counts = torch.bincount(self.index, minlength=self.steps * levels)
        assert counts.numel() == self.steps * levels and bool((counts <= 1).all()), "a grid cell holds two codes"
        assert int(counts.sum()) == levels * frames, "a (level, frame) is missing from the grid"
        self.valid = counts.bool().view(self.steps, levels)
        frame_of = torch.arange(self.steps)[:, None] - torch.arange(levels)[None, :]
        assert torch.equal(self.valid, (frame_of >= 0) & (frame_of < frames)), "grid cells and frames disagree"

    def apply(self, codes: torch.Tensor, fill: int) -> torch.Tensor:
        """Codes [B,S,F] -> step grid [B,F+S-1,S], `fill` where stream q of step t has no frame t - q."""
        b, s, f = codes.shape
        if (s, f) != (self.levels, self.frames):
            raise ValueError(f"pattern is for {self.levels}x{self.frames} codes, got {s}x{f}")
        out = torch.full((b, self.steps * s), fill, dtype=codes.dtype, device=codes.device)
        out[:, self.index.to(codes.device)] = codes.reshape(b, -1)
        return out.view(b, self.steps, s)

    def revert(self, grid: torch.Tensor) -> torch.Tensor:
        """Step grid [B,F+S-1,S] -> codes [B,S,F] (inverse of `apply`)."""
        b = grid.shape[0]
        if tuple(grid.shape[1:]) != (self.steps, self.levels):
            raise ValueError(f"pattern has {self.steps} steps of {self.levels} streams, got {tuple(grid.shape[1:])}")
        return grid.reshape(b, -1)[:, self.index.to(grid.device)].view(b, self.levels, self.frames)


@lru_cache(maxsize=64)
def delay_pattern(levels: int, frames: int) -> DelayPattern:
    """The pattern of (levels, frames), built and checked once per process (it is read-only)."""
    return DelayPattern(levels, frames)


def frames_of(steps: int, levels: int) -> int:
    """Frames held by a grid of `steps` delayed steps of `levels` streams (inverse of F + S - 1)."""
    return max(0, steps - levels + 1)
