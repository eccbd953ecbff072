"""The token streams a cache holds and how their rates align: the one place token-rate arithmetic lives.

A token cache describes itself with a plain metadata dict (data_prep writes it); `TokenSpec.from_meta` reads it and
every conversion between semantic tokens, acoustic frames, melody tokens and seconds goes through the spec.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

from .errors import StageError

STREAMS = ("semantic", "acoustic", "melody")
REQUIRED_KEYS = ("semantic_rate", "semantic_bins", "acoustic_rate", "codec_bins", "n_q", "n_coarse",
                 "cond_levels", "cond_bins", "melody_rate", "melody_bins")


@dataclass(frozen=True)
class TokenSpec:
    """Rates (tokens per second) and vocabulary sizes of a cache's token streams.

    melody_rate and melody_bins are 0 when the cache has no melody tokens; sample_rate is 0 where the metadata does
    not record it (a stage's saved layout needs no audio rate).
    """

    semantic_rate: float
    semantic_bins: int
    acoustic_rate: float
    codec_bins: int
    n_q: int
    n_coarse: int
    cond_levels: int
    cond_bins: int
    melody_rate: float = 0.0
    melody_bins: int = 0
    sample_rate: int = 0

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> "TokenSpec":
        """The spec of a cache metadata dict; StageError naming the missing keys when it lacks any."""
        missing = [k for k in REQUIRED_KEYS if k not in meta]
        if missing:
            raise StageError(f"token cache metadata lacks {', '.join(missing)}: rebuild it with `strata tokenize`")
        return cls(
            semantic_rate=float(meta["semantic_rate"]), semantic_bins=int(meta["semantic_bins"]),
            acoustic_rate=float(meta["acoustic_rate"]), codec_bins=int(meta["codec_bins"]), n_q=int(meta["n_q"]),
            n_coarse=int(meta["n_coarse"]), cond_levels=int(meta["cond_levels"]), cond_bins=int(meta["cond_bins"]),
            melody_rate=float(meta["melody_rate"]), melody_bins=int(meta["melody_bins"]),
            sample_rate=int(meta.get("sample_rate", 0)))

    @classmethod
    def of(cls, value: "TokenSpec | Mapping[str, Any]") -> "TokenSpec":
        """`value` itself when it is a spec, else the spec of the metadata dict it is."""
        return value if isinstance(value, TokenSpec) else cls.from_meta(value)

    def as_meta(self) -> dict[str, Any]:
        """The plain metadata dict (the form a cache and a saved layout store)."""
        return asdict(self)

    @property
    def has_melody(self) -> bool:
        """Whether the cache holds melody tokens."""
        return self.melody_bins > 0 and self.melody_rate > 0

    @property
    def n_fine(self) -> int:
        """Codec levels above the coarse ones."""
        return self.n_q - self.n_coarse

    def rate(self, which: str) -> float:
        """Tokens per second of stream `which` (semantic, acoustic or melody)."""
        if which not in STREAMS:
            raise StageError(f"unknown token stream '{which}' (choose {', '.join(STREAMS)})")
        return float(getattr(self, f"{which}_rate"))

    def seconds_to(self, seconds: float, which: str) -> int:
        """Tokens of stream `which` in `seconds` (rounded)."""
        return int(round(seconds * self.rate(which)))

    def to_seconds(self, n: int, which: str) -> float:
        """Seconds spanned by `n` tokens of stream `which`."""
        return n / self.rate(which)

    def semantic_to_acoustic(self, n: int) -> int:
        """Acoustic frames spanning the time of `n` semantic tokens (rounded)."""
        return int(round(n * self.acoustic_rate / self.semantic_rate))

    def acoustic_to_semantic(self, n: int) -> int:
        """Semantic tokens spanning the time of `n` acoustic frames (rounded; `n` may be negative)."""
        return int(round(n * (self.semantic_rate / self.acoustic_rate)))

    def semantic_to_melody(self, n: int) -> int:
        """Melody tokens spanning the time of `n` semantic tokens (rounded)."""
        return int(round(n * self.melody_rate / self.semantic_rate))
