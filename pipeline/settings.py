"""Typed generation settings and the one place their values are checked, before any model runs.

Rules: temperature finite and >= 0 (0 = greedy: the sampler takes the argmax); top-k an integer >= 0 (0 = off);
0 <= top-p <= 1 (0 or 1 = off); cfg-scale finite in [0, MAX_CFG_SCALE] (1 = off, 0 = unconditional only; a negative
scale would steer away from the text); melody-scale finite in [0, MAX_CFG_SCALE] (0 = off); seconds and
segment-seconds finite in (0, max_seconds]; num-samples and best-of integers in [1, MAX_NUM_SAMPLES] / [1, MAX_BEST_OF];
semantic-candidates an integer in [1, MAX_BEST_OF]; the seed an integer in [0, 2**63).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from .errors import UserError
from .profile import Profile

STAGES = ("semantic", "coarse", "fine")
SAMPLING_KEYS = ("temperature", "top_k", "top_p")
MAX_CFG_SCALE = 100.0
MAX_NUM_SAMPLES = 64
MAX_BEST_OF = 16
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class SamplingSettings:
    """How one stage draws tokens."""

    temperature: float
    top_k: int
    top_p: float

    def as_dict(self) -> dict[str, Any]:
        """Keyword arguments for stages.sampling."""
        return {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p}


@dataclass(frozen=True)
class GenerationSettings:
    """Every value one generate call uses, after the profile's defaults are filled in."""

    seconds: float = 10.0
    num_samples: int = 1
    best_of: int = 1
    seed: int = 0
    cfg_scale: float = 1.0
    melody_scale: float = 0.0
    semantic_candidates: int = 1
    story: bool = False
    segment_seconds: float = 15.0
    sampling: dict[str, SamplingSettings] = field(default_factory=dict)

    def temperatures(self) -> list[float]:
        """The semantic, coarse and fine stages' sampling temperatures, for reports."""
        return [self.sampling[name].temperature for name in STAGES]


def profile_settings(profile: Profile) -> GenerationSettings:
    """The profile's defaults (seed, cfg scale, each stage's sampling) over the GenerationSettings defaults, unchecked."""
    sampling = {name: SamplingSettings(**{key: getattr(getattr(profile.stages, name), key) for key in SAMPLING_KEYS})
                for name in STAGES}
    return GenerationSettings(seed=profile.generate.seed, cfg_scale=profile.generate.cfg_scale,
                              melody_scale=profile.generate.melody_scale,
                              semantic_candidates=profile.generate.semantic_candidates, sampling=sampling)


def settings_from(profile: Profile, *, base: GenerationSettings | None = None, seconds: Any = None,
                  num_samples: Any = None, best_of: Any = None, seed: Any = None, cfg_scale: Any = None,
                  melody_scale: Any = None, semantic_candidates: Any = None, story: bool | None = None,
                  segment_seconds: Any = None, temperature: Mapping | None = None,
                  top_k: Mapping | None = None, top_p: Mapping | None = None) -> GenerationSettings:
    """Fill every unset (None) value from `base` (default: profile_settings), then validate.

    The per-stage sampling mappings ({stage: value}) replace only the stages they name. Raises UserError naming the
    first bad value.
    """
    given = {"temperature": dict(temperature or {}), "top_k": dict(top_k or {}), "top_p": dict(top_p or {})}
    for key, values in given.items():
        unknown = set(values) - set(STAGES)
        if unknown:
            raise UserError(f"{_flag(key)}: unknown stage {sorted(unknown)[0]!r} (use {', '.join(STAGES)})")
    base = profile_settings(profile) if base is None else base
    sampling = {name: SamplingSettings(**{key: given[key].get(name, getattr(base.sampling[name], key)) for key in given})
                for name in STAGES}
    values = {"seconds": seconds, "num_samples": num_samples, "best_of": best_of, "seed": seed, "cfg_scale": cfg_scale,
              "melody_scale": melody_scale, "semantic_candidates": semantic_candidates, "story": story,
              "segment_seconds": segment_seconds}
    settings = replace(base, sampling=sampling, **{k: v for k, v in values.items() if v is not None})
    validate(settings, profile.generate.max_seconds)
    return settings


def validate(settings: GenerationSettings, max_seconds: float) -> None:
    """Check every value against the rules in this module's docstring; raise UserError on the first bad one."""
    if settings.story:
        check_real(settings.segment_seconds, "--segment-seconds", low=0.0, high=max_seconds, open_low=True)
    else:
        check_real(settings.seconds, "--seconds", low=0.0, high=max_seconds, open_low=True)
    check_integer(settings.num_samples, "--num-samples", 1, MAX_NUM_SAMPLES)
    check_integer(settings.best_of, "--best-of", 1, MAX_BEST_OF)
    check_integer(settings.semantic_candidates, "--semantic-candidates", 1, MAX_BEST_OF)
    check_integer(settings.seed, "--seed", 0, MAX_SEED)
    check_real(settings.cfg_scale, "--cfg-scale", low=0.0, high=MAX_CFG_SCALE)
    check_real(settings.melody_scale, "--melody-scale", low=0.0, high=MAX_CFG_SCALE)
    for name, stage in settings.sampling.items():
        where = f" ({name} stage)"
        check_real(stage.temperature, "--temperature", low=0.0, where=where)
        check_integer(stage.top_k, "--top-k", 0, None, where)
        check_real(stage.top_p, "--top-p", low=0.0, high=1.0, where=where)


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def check_real(value: Any, flag: str, low: float, high: float | None = None, open_low: bool = False,
               where: str = "") -> None:
    """UserError unless value is a finite number in [low, high] ((low, high] with open_low; no upper bound when None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{flag} must be a number{where}, got {value!r}")
    if not math.isfinite(value):
        raise UserError(f"{flag} must be a finite number{where}, got {value}")
    too_low = value <= low if open_low else value < low
    if too_low or (high is not None and value > high):
        lo = f"({low:g}" if open_low else f"[{low:g}"
        hi = f"{high:g}]" if high is not None else "inf)"
        raise UserError(f"{flag} must be in {lo}, {hi}{where}, got {value:g}")


def check_integer(value: Any, flag: str, low: int, high: int | None, where: str = "") -> None:
    """UserError unless value is an integer in [low, high] (no upper bound when high is None)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{flag} must be an integer{where}, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise UserError(f"{flag} must be {bound}{where}, got {value}")
