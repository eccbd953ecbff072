"""The delay layouts of the coarse and fine stages (MusicGen's pattern): a sequence of steps of several streams.

Each position ("step") holds `streams` joint ids; PAD marks an empty stream (no input, no loss):
  coarse: cond[L_c] melody[T_m]? semantic[T_s] | delayed coarse[F+S-1]    prefix tokens one per step, in stream 0
  fine:   coarse frames[F] | delayed fine[F+S-1]               one step per coarse frame, its levels as streams
In the target steps stream q of step t holds level q of frame t - q (stages/delay_pattern.py). The model embeds a
step as the sum of its streams and predicts all S target streams of the next step, stream q from level q's ids, so
F frames take F + S - 1 autoregressive steps instead of F * S.

An aligned coarse layout adds input-only streams after the S target ones: the step that predicts frame f (the SEP
step for frame 0, target step f - 1 otherwise) also holds the semantic token, and when the stage reads melody the
melody token, of frame f's time. A small model then reads "which note now" from its own input instead of finding
the right prefix position by attention, whose distance to the frame changes along the window.
"""
from __future__ import annotations

from typing import Any

import torch

from .delay_pattern import DelayPattern, delay_pattern, frames_of
from .errors import StageError
from .layouts import CoarseLayout, FineLayout, Layout, join_target, joint_level_ids
from .vocab import MASK, PAD, SEP

DRAW = -1  # a cell of a sampling grid that the sampler draws (every other cell is teacher-forced)


class DelayLayout(Layout):
    """What the delay layouts share: the pattern, the step <-> code conversions and the multi-stream head range."""

    kind = "delay"
    prefix_levels = 1

    @property
    def streams(self) -> int:
        """Tokens per step: the wider of the target levels and the levels of one prefix step."""
        return max(self.target_levels, self.prefix_levels)

    def steps(self, n_frames: int) -> int:
        """F + S - 1 autoregressive steps for F frames of S levels."""
        return n_frames + self.target_levels - 1 if n_frames else 0

    def pattern(self, frames: int) -> DelayPattern:
        """The (checked) delay pattern of `frames` target frames."""
        return delay_pattern(self.target_levels, frames)

    def head_range(self) -> tuple[int, int]:
        """Joint ids [lo, hi) of all target levels; its S equal slices are the S output heads."""
        lo, _ = self.vocab.span(self.target, 0)
        return lo, lo + self.target_levels * self.vocab.bins(self.target)

    def widen(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens [B,P] (one per step) or [B,P,k] -> steps [B,P,streams], the missing streams PAD."""
        if tokens.dim() == 2:
            tokens = tokens.unsqueeze(-1)
        pad = self.streams - tokens.shape[-1]
        return torch.nn.functional.pad(tokens, (0, pad), value=PAD) if pad else tokens

    def flatten(self, codes: torch.Tensor) -> torch.Tensor:
        """Raw target codes [B,S,F] -> delayed target steps [B,F+S-1,streams] of joint ids (PAD where empty)."""
        joint = encode_levels(self, codes)
        return self.widen(self.pattern(codes.shape[2]).apply(joint, PAD))

    def unflatten(self, steps: torch.Tensor) -> torch.Tensor:
        """Delayed target steps [B,N,streams] -> raw codes [B,S,N-S+1] (inverse of `flatten`)."""
        s = self.target_levels
        grid = steps[..., :s].long()
        codes = self.pattern(frames_of(grid.shape[1], s)).revert(grid)
        return codes - self.vocab.level_offsets(self.target).to(codes.device)[None, :, None]

    def draw_grid(self, known: torch.Tensor | None, n_frames: int, batch: int) -> torch.Tensor:
        """Target steps for `known` frames [B,S,F0] followed by n_frames new ones: joint ids where known, DRAW
        where the sampler draws, PAD where empty. Long[B, steps(F0+n_frames), streams]."""
        f0 = 0 if known is None else known.shape[2]
        codes = torch.full((batch, self.target_levels, f0 + n_frames), DRAW, dtype=torch.long)
        if known is not None:
            codes[:, :, :f0] = encode_levels(self, known)
        return self.widen(self.pattern(f0 + n_frames).apply(codes, PAD))


class DelayCoarseLayout(DelayLayout, CoarseLayout):
    """cond [+ melody] semantic | delayed coarse levels; the prefix holds one token per step."""

    can_align = True

    @property
    def aligned_streams(self) -> list[str]:
        """Names of the input-only streams after the target levels: semantic, then melody when the stage reads it."""
        if not self.aligned:
            return []
        return ["semantic"] + (["melody"] if self.has_melody else [])

    @property
    def streams(self) -> int:  # type: ignore[override]
        """Target levels plus the aligned streams."""
        return max(self.prefix_levels, self.target_levels + len(self.aligned_streams))

    def prefix(self, cond: torch.Tensor, semantic: torch.Tensor, uncond: bool = False,
               melody: torch.Tensor | None = None) -> torch.Tensor:
        """Sampling prefix steps [B,P,streams] up to the SEP step (the flat prefix, one token per step)."""
        return self.widen(CoarseLayout.prefix(self, cond, semantic, uncond, melody))

    def aligned_rows(self, semantic: torch.Tensor, melody: torch.Tensor | None, n_rows: int,
                     uncond: bool = False) -> torch.Tensor:
        """Joint ids [B,n_rows,k] of the aligned streams for frames 0..n_rows-1 of a window whose semantic tokens are
        `semantic` [B,T_s] (melody [B,T_m] from the same time). PAD past the semantic span; melody MASK where absent,
        unconditional, or shorter than the window."""
        spec = self.token_spec
        frames = torch.arange(n_rows, dtype=torch.float64)
        b, n_sem = semantic.shape
        cols = []
        for name in self.aligned_streams:
            rate = spec.semantic_rate if name == "semantic" else spec.melody_rate
            idx = torch.floor(frames * rate / spec.acoustic_rate + 1e-6).long()
            inside = idx < (n_sem if name == "semantic" else self.melody_length(n_sem))
            col = torch.full((b, n_rows), MASK, dtype=torch.long)
            source = semantic if name == "semantic" else (None if uncond else melody)
            if source is not None and source.shape[1]:
                have = idx < source.shape[1]
                col[:, have] = self.vocab.encode(name, source.long()[:, idx[have]])
            cols.append(col.masked_fill(~inside, PAD))
        return torch.stack(cols, -1) if cols else torch.zeros((b, n_rows, 0), dtype=torch.long)

    def attach_aligned(self, head: torch.Tensor, grid: torch.Tensor, semantic: torch.Tensor,
                       melody: torch.Tensor | None, uncond: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Copies of prefix steps [B,P,streams] and target steps [B,N,streams] with the aligned streams written into
        the SEP step (frame 0) and target step f - 1 (frame f); unchanged when the layout has none."""
        if not self.aligned_streams:
            return head, grid
        rows = self.aligned_rows(semantic, melody, grid.shape[1] + 1, uncond)
        lo = self.target_levels
        head, grid = head.clone(), grid.clone()
        head[:, -1, lo:lo + rows.shape[-1]] = rows[:, 0]
        grid[:, :, lo:lo + rows.shape[-1]] = rows[:, 1:]
        return head, grid

    def example(self, record: dict[str, Any], gen: torch.Generator | None = None, cond_drop_prob: float = 0.0,
                text_cond_prob: float = 0.0, melody_drop_prob: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.crop(record, gen, cond_drop_prob, text_cond_prob, melody_drop_prob)
        head = self.prefix(c.cond, c.semantic, uncond=c.uncond, melody=c.melody)
        head, target = self.attach_aligned(head, self.flatten(c.codes), c.semantic, c.melody, c.uncond)
        tokens, mask = join_target(head[0], target[0])
        mask[:, self.target_levels:] = False  # aligned streams are inputs, never targets
        return tokens, mask


class DelayFineLayout(DelayLayout, FineLayout):
    """coarse frames (one step each, levels as streams) | delayed fine levels."""

    @property
    def prefix_levels(self) -> int:  # type: ignore[override]
        """A prefix step holds one coarse frame."""
        return self.n_coarse

    def prefix(self, coarse: torch.Tensor) -> torch.Tensor:
        """Sampling prefix steps [B,F+1,streams] for coarse frames [B,n_coarse,F]: one step per frame, then SEP."""
        frames = encode_levels(self, coarse, "coarse").transpose(1, 2)
        sep = torch.full((coarse.shape[0], 1, 1), SEP, dtype=torch.long)
        return torch.cat([self.widen(frames), self.widen(sep)], 1)


def encode_levels(layout: Layout, codes: torch.Tensor, name: str | None = None) -> torch.Tensor:
    """Raw codes [B,Q,F] of section `name` (default the target) -> joint ids, level q in its own range."""
    name = name or layout.target
    vocab = layout.vocab
    if codes.dim() != 3 or codes.shape[1] != vocab.levels(name):
        raise StageError(f"expected {name} codes [batch, {vocab.levels(name)}, frames], got {tuple(codes.shape)}")
    return joint_level_ids(vocab, name, codes)
