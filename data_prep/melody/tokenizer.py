"""MelodyTokenizer: melody tokens from any mono/stereo audio (hum, whistle, instrument).

- chroma (MusicGen): dominant pitch class per frame at `frame_rate` Hz; frames quieter than `silence_db`
  get the silent token 12. No weights; vocab 13.
- learned (MusicLM): one embedding per `window_seconds` window (non-overlapping; a short tail is padded with
  silence), RVQ-quantized to `rvq_levels` tokens, laid out window by window. Vocab = rvq_bins.
"""
from __future__ import annotations

import math
import os
import dataclasses
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from training.files import atomic_torch_save

from ..audio_io import as_mono_batch
from ..errors import DataError
from ..files import load_weights
from ..rvq import ResidualVQ
from .config import MelodyConfig, MelodyTrainConfig
from .features import fold_chroma, semitone_frames
from .model import MelodyNet, chroma_features

SILENT = 12
CHROMA_VOCAB = 13


class MelodyTokenizer:
    """Chroma-argmax or learned melody tokens; `.tokens(wav, sr) -> Long[B, T_m]` at `.rate` tokens/s."""

    def __init__(self, config: MelodyConfig, kind: str, net: MelodyNet | None = None,
                 rvq: ResidualVQ | None = None) -> None:
        if kind not in ("chroma", "learned"):
            raise DataError(f"melody tokenizer kind must be chroma or learned, got '{kind}'")
        self.config = config
        self.kind = kind
        self.net = net.eval() if net is not None else None
        self.rvq = rvq

    @classmethod
    def chroma(cls, config: MelodyConfig) -> "MelodyTokenizer":
        """The training-free MusicGen-style tokenizer."""
        return cls(config, "chroma")

    @classmethod
    def learned(cls, config: MelodyConfig, net: MelodyNet | None = None, rvq: ResidualVQ | None = None) -> "MelodyTokenizer":
        """A learned tokenizer around `net` (fresh when None); `rvq` may be fitted later."""
        return cls(config, "learned", net or MelodyNet(config.width, config.embed_dim), rvq)

    @classmethod
    def load(cls, path: str | os.PathLike, rvq_levels: int | None = None, rvq_bins: int | None = None) -> "MelodyTokenizer":
        """Rebuild a learned tokenizer from melody.pt (weights + RVQ + config); `rvq_levels`/`rvq_bins` replace the
        saved RVQ shape in the config, for a refit of the RVQ."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"melody tokenizer not found: {path} (run `strata train melody` first)")
        blob = load_weights(path)
        data = dict(blob["config"])
        train = MelodyTrainConfig(**data.pop("train", {}))
        config = MelodyConfig(**data, train=train)
        config = dataclasses.replace(config, rvq_levels=rvq_levels or config.rvq_levels,
                                     rvq_bins=rvq_bins or config.rvq_bins)
        net = MelodyNet(config.width, config.embed_dim)
        net.load_state_dict(blob["state_dict"])
        rvq = ResidualVQ.from_state(blob["rvq"]) if blob.get("rvq") is not None else None
        return cls(config, "learned", net, rvq)

    def save(self, path: str | os.PathLike) -> None:
        """Write melody.pt atomically (learned kind only)."""
        if self.kind != "learned" or self.net is None:
            raise DataError("only the learned melody tokenizer has weights to save")
        atomic_torch_save({"config": asdict(self.config), "kind": "learned", "state_dict": self.net.state_dict(),
                           "rvq": self.rvq.state() if self.rvq is not None else None}, path)

    @property
    def rate(self) -> float:
        """Tokens per second of audio."""
        if self.kind == "chroma":
            return float(self.config.frame_rate)
        return self.config.rvq_levels / self.config.window_seconds

    @property
    def vocab_size(self) -> int:
        return CHROMA_VOCAB if self.kind == "chroma" else self.config.rvq_bins

    @torch.no_grad()
    def tokens(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Audio [T] / [B, T] / [B, C, T] -> Long[B, T_m]."""
        if self.kind == "chroma":
            return self.chroma_tokens(wav, sample_rate)
        if self.rvq is None:
            raise DataError("the melody quantizer is not fitted: run `strata train melody`")
        emb = self.window_embeddings(wav, sample_rate)
        b, n, d = emb.shape
        return self.rvq.encode(emb.reshape(b * n, d)).reshape(b, n * self.rvq.levels)

    def chroma_tokens(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Dominant pitch class per frame at `frame_rate` Hz, SILENT for quiet frames."""
        cfg = self.config
        semis, db = semitone_frames(wav, sample_rate, cfg.frame_rate, cfg.low_midi, cfg.high_midi)
        ids = fold_chroma(semis, cfg.low_midi).argmax(dim=1)
        return torch.where(db < cfg.silence_db, torch.full_like(ids, SILENT), ids).long()

    @torch.no_grad()
    def window_embeddings(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Learned kind: Float[B, n_windows, embed_dim], one per non-overlapping window."""
        if self.net is None:
            raise DataError("window embeddings need the learned melody tokenizer")
        feats = chroma_features(as_mono_batch(wav), sample_rate, self.config)
        return self.embed_features(feats)

    @torch.no_grad()
    def embed_features(self, feats: torch.Tensor) -> torch.Tensor:
        """Model input [B, 13, F] -> Float[B, n_windows, D] (tail padded with silence to a full window)."""
        win = window_frames(self.config)
        n = max(1, math.ceil(feats.shape[-1] / win - 1e-6))
        feats = F.pad(feats, (0, n * win - feats.shape[-1]))
        b = feats.shape[0]
        windows = feats.reshape(b, feats.shape[1], n, win).permute(0, 2, 1, 3).reshape(b * n, feats.shape[1], win)
        return self.net(windows).reshape(b, n, -1)


def window_frames(config: MelodyConfig) -> int:
    """Feature frames per melody window."""
    return max(8, int(round(config.window_seconds * config.feature_rate)))
