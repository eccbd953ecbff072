"""Config of the synthetic captioned corpus (`strata data synth`)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SynthConfig:
    """How many clips to render, how long, from which seed, and how the corpus is varied.

    sources: corpus groups drawn evenly (see data_prep.synth.sources.SOURCES).
    windows_per_piece: clips cut from one parsed piece before the next is drawn (parsing is the slow part);
        null = each source's own default (more for long pieces).
    drum_probability: chance of a drum part per clip for dance/folk styles (halved for chorales, Renaissance polyphony and airs).
    valid_share / test_share: share of source pieces held out for each split (assigned by piece, never by clip).
    cache_dir: where parsed note lists are kept (default: $STRATA_CACHE or ~/.cache/strata, then synth_notes/).
    """

    num_clips: int = 600
    seconds: float = 10.0
    sample_rate: int = 24000
    seed: int = 0
    soundfont: str | None = None
    melody_pairs: int = 0
    workers: int = 2
    sources: list[str] = field(default_factory=lambda: ["chorale", "fiddle", "folk", "renaissance"])
    windows_per_piece: int | None = None
    drum_probability: float = 0.4
    valid_share: float = 0.05
    test_share: float = 0.05
    cache_dir: str | None = None
