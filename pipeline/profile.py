"""The profile: every component's config composed into one tree that a conf/*.yaml fills in."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from data_prep.cache.config import TokenCacheConfig
from data_prep.clap.config import ClapConfig, RVQConfig
from data_prep.codec.config import CodecConfig
from data_prep.melody.config import MelodyConfig
from data_prep.semantic.config import SemanticConfig
from data_prep.synth.config import SynthConfig
from stages.config import StagesConfig, TrainConfig

from .config_loader import apply_overrides, dump_yaml, from_dict
from .errors import ConfigError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


@dataclass
class GenerateConfig:
    """Orchestrator defaults for `strata generate`."""

    max_seconds: float = 300.0
    cfg_scale: float = 1.0
    # Extra guidance towards a --melody (0 = off): the stages that read melody also run rows with it masked.
    melody_scale: float = 0.0
    # Semantic draws per clip; the one the text explains best is kept (stages.candidates). 1 = plain sampling.
    semantic_candidates: int = 1
    seed: int = 0


@dataclass
class AuditConfig:
    """What `strata audit` runs: which examples, which prompt lengths, the matching settings and the novelty check;
    its flags override these through dataclasses.replace."""

    split: str = "train"
    num_examples: int = 64
    prompt_seconds: list[float] = field(default_factory=lambda: [0.0, 1.0, 2.0, 4.0, 8.0])
    continuation_seconds: float = 5.0
    max_fpr: float = 1e-4
    sinkhorn_epsilon: float = 0.05
    sinkhorn_iters: int = 200
    sinkhorn_omega: float = 1.5
    # Normalised token-entropy floor below which a target continuation is trivial (near-constant, e.g. silence): such
    # pairs are counted apart and left out of tau's calibration and of the approximate matches.
    trivial_entropy: float = 0.2
    max_negatives: int = 20000
    # Examples decoded together.
    batch_size: int = 16
    # Clips generated from training captions for the SIM_AA@95 novelty check (0: not run), and their length.
    novelty_samples: int = 0
    novelty_seconds: float = 5.0
    # Seeds the example sample, the negative pairs and the novelty prompts.
    seed: int = 0


@dataclass
class Profile:
    """Everything a run needs to know; saved resolved as runs/<name>/config.yaml."""

    name: str = "tiny"
    data: SynthConfig = field(default_factory=SynthConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    clap: ClapConfig = field(default_factory=ClapConfig)
    rvq: RVQConfig = field(default_factory=RVQConfig)
    semantic: SemanticConfig = field(default_factory=SemanticConfig)
    melody: MelodyConfig = field(default_factory=MelodyConfig)
    cache: TokenCacheConfig = field(default_factory=TokenCacheConfig)
    stages: StagesConfig = field(default_factory=StagesConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)


def available_profiles() -> list[str]:
    """Names of the YAML profiles shipped in conf/."""
    return sorted(p.stem for p in CONF_DIR.glob("*.yaml"))


def resolve_profile_path(name_or_path: str) -> Path:
    """A profile name ('tiny') or a path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"profile file not found: {path}")
        return path
    candidate = CONF_DIR / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise ConfigError(f"unknown profile '{name_or_path}' (available: {', '.join(available_profiles())})")
    return candidate


def load_profile(name_or_path: str, overrides: list[str] | None = None) -> Profile:
    """Load a profile YAML, apply `key=value` overrides, and validate every key and type."""
    path = resolve_profile_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"profile {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    data = apply_overrides(data, list(overrides or []))
    profile = from_dict(Profile, data)
    _check_aligned(profile)
    return profile


def _check_aligned(profile: Profile) -> None:
    """Aligned streams exist only in the delay coarse layout; say so before any training starts."""
    for name in ("semantic", "coarse", "fine"):
        stage = getattr(profile.stages, name)
        if stage.aligned and (name != "coarse" or stage.layout != "delay"):
            raise ConfigError(f"stages.{name}.aligned=true needs the delay coarse stage (this is the {stage.layout} "
                              f"{name} stage): set stages.{name}.aligned=false")


def profile_to_yaml(profile: Profile) -> str:
    """The fully resolved profile as YAML text."""
    return dump_yaml(profile)
