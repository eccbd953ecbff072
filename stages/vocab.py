"""A stage's joint vocabulary: special tokens, then one id range per token type and per level."""
from __future__ import annotations

import torch

from .errors import StageError

SPECIALS = ("pad", "sep", "mask")
PAD, SEP, MASK = 0, 1, 2


class Vocab:
    """Ids 0..2 are pad/sep/mask; each section (name, levels, bins) then gets `levels` ranges of `bins` ids."""

    def __init__(self, sections: list[tuple[str, int, int]]) -> None:
        self.sections = [(str(n), int(levels), int(bins)) for n, levels, bins in sections]
        self._offsets: dict[str, int] = {}
        self._shape: dict[str, tuple[int, int]] = {}
        offset = len(SPECIALS)
        for name, levels, bins in self.sections:
            if name in self._offsets:
                raise ValueError(f"duplicate vocabulary section '{name}'")
            if levels < 1 or bins < 1:
                raise ValueError(f"vocabulary section '{name}' needs levels >= 1 and bins >= 1, got {levels}x{bins}")
            self._offsets[name] = offset
            self._shape[name] = (levels, bins)
            offset += levels * bins
        self.size = offset

    def __contains__(self, name: str) -> bool:
        return name in self._offsets

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and other.sections == self.sections

    def levels(self, name: str) -> int:
        """Number of levels of a section."""
        return self._shape[name][0]

    def bins(self, name: str) -> int:
        """Ids per level of a section."""
        return self._shape[name][1]

    def offset(self, name: str, level: int = 0) -> int:
        """First joint id of `level` of section `name`."""
        levels, bins = self._shape[name]
        if not 0 <= level < levels:
            raise IndexError(f"section '{name}' has {levels} levels, asked for level {level}")
        return self._offsets[name] + level * bins

    def span(self, name: str, level: int = 0) -> tuple[int, int]:
        """Half-open joint-id range [lo, hi) of one level of a section."""
        lo = self.offset(name, level)
        return lo, lo + self.bins(name)

    def level_offsets(self, name: str) -> torch.Tensor:
        """Offsets of every level of a section, LongTensor[levels]."""
        levels, bins = self._shape[name]
        return self._offsets[name] + bins * torch.arange(levels)

    def encode(self, name: str, ids: torch.Tensor, level: int = 0) -> torch.Tensor:
        """Raw ids of one level (any shape) -> joint ids; raises StageError when an id is out of range."""
        ids = ids.long()
        bins = self.bins(name)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= bins):
            raise StageError(
                f"{name} token out of range [0, {bins}) (got {int(ids.min())}..{int(ids.max())}): "
                "the token cache and the stage were built with different tokenizers; re-run `strata tokenize`"
            )
        return ids + self.offset(name, level)

    def decode(self, name: str, ids: torch.Tensor, level: int = 0) -> torch.Tensor:
        """Joint ids of one level -> raw ids."""
        return ids.long() - self.offset(name, level)

    def spec(self) -> list[list[object]]:
        """Plain-data description (saved in model.pt)."""
        return [[n, levels, bins] for n, levels, bins in self.sections]

    @classmethod
    def from_spec(cls, spec: list[list[object]]) -> "Vocab":
        """Inverse of `spec()`."""
        return cls([(str(n), int(levels), int(bins)) for n, levels, bins in spec])  # type: ignore[arg-type]
