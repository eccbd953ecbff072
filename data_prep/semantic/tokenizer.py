"""SemanticTokenizer: normalised SSL (or log-mel) frames -> nearest k-means centroid ids at `rate` Hz."""
from __future__ import annotations

import os
import dataclasses
from dataclasses import asdict

import torch

from training.files import atomic_torch_save

from ..errors import DataError
from ..files import load_weights
from .config import KMeansConfig, SemanticConfig, SSLTrainConfig
from .features import FeatureExtractor
from .kmeans import assign, load_centroids
from .ssl import create_model, load_pretrained

FORMAT = "strata-semantic-v1"


def config_from_dict(data: dict) -> SemanticConfig:
    """Rebuild a SemanticConfig (with its nested train/kmeans sections) from its asdict() form."""
    data = dict(data)

    train = SSLTrainConfig(**data.pop("train", {}))
    kmeans = KMeansConfig(**data.pop("kmeans", {}))
    return SemanticConfig(**data, train=train, kmeans=kmeans)


class SemanticTokenizer:
    """Feature extractor + normalisation statistics (semantic.pt) + centroids (kmeans.pt)."""

    def __init__(self, extractor: FeatureExtractor, centroids: torch.Tensor | None = None) -> None:
        self.extractor = extractor
        self._centroids = centroids

    @classmethod
    def from_config(cls, cfg: SemanticConfig) -> "SemanticTokenizer":
        """A tokenizer without statistics or centroids: mel, the pretrained checkpoint (file or asset name), or a fresh SSL model."""
        if cfg.source == "mel":
            return cls(FeatureExtractor(cfg))
        model = load_pretrained(cfg) if cfg.pretrained else create_model(cfg)
        return cls(FeatureExtractor(cfg, model))

    @classmethod
    def load(cls, semantic_path: str | os.PathLike, kmeans_path: str | os.PathLike | None = None,
             kmeans: KMeansConfig | None = None, layer: int | None = None) -> "SemanticTokenizer":
        """Rebuild from semantic.pt (config, weights, statistics) and optionally kmeans.pt (centroids).

        `kmeans` and `layer` replace the saved config's k-means settings and SSL feature layer (a refit's choices).
        """
        if not os.path.isfile(semantic_path):
            raise DataError(f"semantic tokenizer not found: {semantic_path} (run `strata train semantic-ssl` or `strata train kmeans`)")
        blob = load_weights(semantic_path)
        if blob.get("format") != FORMAT:
            raise DataError(f"{semantic_path} is not a Strata semantic tokenizer file")
        cfg = config_from_dict(blob["config"])
        cfg = dataclasses.replace(cfg, kmeans=kmeans or cfg.kmeans, layer=cfg.layer if layer is None else layer)
        model = None
        if cfg.source == "ssl":
            model = create_model(cfg)
            model.load_state_dict(blob["state_dict"])
        extractor = FeatureExtractor(cfg, model)
        extractor.mean, extractor.std = blob.get("mean"), blob.get("std")
        centroids = load_centroids(kmeans_path) if kmeans_path is not None else None
        tok = cls(extractor)
        if centroids is not None:
            tok.set_centroids(centroids)
        return tok

    @property
    def cfg(self) -> SemanticConfig:
        return self.extractor.cfg

    @property
    def rate(self) -> float:
        """Tokens per second."""
        return self.extractor.rate

    @property
    def vocab_size(self) -> int:
        """Number of k-means clusters."""
        return int(self.centroids.shape[0])

    @property
    def centroids(self) -> torch.Tensor:
        """Float[K,D] k-means centroids in normalised feature space (the audit's ground cost)."""
        if self._centroids is None:
            raise DataError("semantic tokenizer has no k-means centroids yet: run `strata train kmeans --run R`")
        return self._centroids

    def set_centroids(self, centroids: torch.Tensor) -> None:
        """Attach centroids [K,D] fitted on this tokenizer's normalised features."""
        if centroids.shape[1] != self.extractor.dim:
            raise ValueError(f"centroid dim {centroids.shape[1]} != feature dim {self.extractor.dim}")
        self._centroids = centroids.float()

    def features(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Normalised frames [B,F,D] of mono audio [B,T]."""
        return self.extractor.features(wav, sample_rate)

    def tokens(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Semantic token ids Long[B,F] of mono audio [B,T] (or [T] -> [1,F])."""
        frames = self.features(wav, sample_rate)
        b, f, d = frames.shape
        ids, _ = assign(frames.reshape(b * f, d), self.centroids, self.cfg.kmeans.assign_batch)
        return ids.view(b, f)

    def save(self, path: str | os.PathLike) -> None:
        """Write semantic.pt: config, model state dict (empty for mel), normalisation statistics; atomic."""
        ex = self.extractor
        atomic_torch_save(
            {
                "format": FORMAT,
                "config": asdict(self.cfg),
                "state_dict": ex.model.state_dict() if ex.model is not None else {},
                "mean": ex.mean,
                "std": ex.std,
            },
            path,
        )
