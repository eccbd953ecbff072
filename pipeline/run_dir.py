"""The one on-disk layout of a run: everything a run produces sits under runs/<name>/.

runs/<name>/
  config.yaml                 fully resolved profile (written when the run is created)
  data/manifest.jsonl         training corpus (synthetic or user) and data/audio/
  tokenizers/codec.pt         acoustic tokenizer (state dict + config)
  tokenizers/clap.pt          CLAP towers; tokenizers/rvq.pt its quantizer
  tokenizers/semantic.pt      SSL feature model + normalisation stats; tokenizers/kmeans.pt centroids
  tokenizers/melody.pt        melody embedding + its quantizer (learned kind only)
  cache/                      token shards written by `strata tokenize`
  stages/<stage>/checkpoints/ DeepSpeed checkpoints (last K); stages/<stage>/model.pt fp32 export
  reports/                    eval, audit and bench outputs
  generations/                WAVs + JSON sidecars from `strata generate`
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from training.files import atomic_write_text

from .errors import UserError
from .profile import Profile, load_profile, profile_to_yaml

STAGE_NAMES = ("semantic", "coarse", "fine")
RUNS_ROOT_ENV = "STRATA_RUNS"
EMBEDDED_NAME = "embedded"
EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded" / "tiny"


def runs_root() -> Path:
    """Folder holding named runs: $STRATA_RUNS or ./runs."""
    return Path(os.environ.get(RUNS_ROOT_ENV, "runs"))


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory; creates nothing by itself."""

    root: Path

    @classmethod
    def from_arg(cls, run: str) -> "RunDir":
        """`--run` takes a name under runs/ or a path to a run folder."""
        if run == EMBEDDED_NAME:
            return cls(EMBEDDED_DIR)
        path = Path(run)
        if path.is_absolute() or os.sep in run or run.startswith("."):
            return cls(path)
        return cls(runs_root() / run)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def manifest_path(self) -> Path:
        return self.data_dir / "manifest.jsonl"

    @property
    def tokenizers_dir(self) -> Path:
        return self.root / "tokenizers"

    def tokenizer(self, name: str) -> Path:
        return self.tokenizers_dir / f"{name}.pt"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    def stage_dir(self, stage: str) -> Path:
        return self.root / "stages" / stage

    def stage_model(self, stage: str) -> Path:
        return self.stage_dir(stage) / "model.pt"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def generations_dir(self) -> Path:
        return self.root / "generations"

    def exists(self) -> bool:
        return self.config_path.is_file()

    def require(self) -> "RunDir":
        """Fail with a hint if the run has not been created yet."""
        if not self.exists():
            raise UserError(
                f"run '{self.root}' does not exist: create it with "
                f"`strata init --run {self.name} --profile tiny` (or use `--run embedded` for the shipped weights)"
            )
        return self

    def load_profile(self, overrides: list[str] | None = None) -> Profile:
        """The run's saved, resolved profile, with optional overrides on top."""
        return load_profile(str(self.require().config_path), overrides)

    def create(self, profile: Profile) -> None:
        """Write the resolved config; an existing run keeps its config unless it is identical."""
        text = profile_to_yaml(profile)
        if self.config_path.is_file() and self.config_path.read_text() != text:
            raise UserError(
                f"run '{self.root}' already exists with a different config; pick a new --run name "
                "or remove the folder"
            )
        atomic_write_text(self.config_path, text)
