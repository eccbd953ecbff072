"""Config of the synthetic captioned corpus (`strata data synth`)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SynthConfig:
    """How many clips to render, how long, and from which seed."""

    num_clips: int = 600
    seconds: float = 10.0
    sample_rate: int = 24000
    seed: int = 0
    soundfont: str | None = None
    melody_pairs: int = 0
    workers: int = 2
