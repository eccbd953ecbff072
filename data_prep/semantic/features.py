"""Frame features for semantic tokens: one SSL layer (fairseq2) or log-mel frames, at the token rate, normalised."""
from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio.transforms as T

from ..audio_io import resample
from .config import SemanticConfig
from .ssl import layer_features, model_hop


class FeatureExtractor:
    """Turns mono audio [B,T] into frames [B,F,D] at `rate` Hz; per-dimension mean/std applied once fitted."""

    def __init__(self, cfg: SemanticConfig, model: torch.nn.Module | None = None) -> None:
        if cfg.source == "ssl" and model is None:
            raise ValueError("the ssl source needs a fairseq2 model")
        self.cfg = cfg
        self.model = model.eval() if model is not None else None
        self.mean: torch.Tensor | None = None
        self.std: torch.Tensor | None = None
        self._mel = None
        if cfg.source == "mel":
            hop = self.mel_hop
            self._mel = T.MelSpectrogram(
                sample_rate=cfg.sample_rate, n_fft=max(512, 2 * hop), hop_length=hop, n_mels=cfg.mel_bins, power=2.0
            )

    @property
    def mel_hop(self) -> int:
        """Samples per log-mel frame."""
        return max(1, round(self.cfg.sample_rate / self.cfg.mel_rate))

    @property
    def rate(self) -> float:
        """Frames (tokens) per second of audio."""
        if self.cfg.source == "mel":
            return self.cfg.sample_rate / self.mel_hop
        return self.cfg.sample_rate / (model_hop(self.cfg) * max(1, self.cfg.pool))

    @property
    def dim(self) -> int:
        """Feature dimensionality."""
        return self.cfg.mel_bins if self.cfg.source == "mel" else self.cfg.model_dim

    @torch.no_grad()
    def raw(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Unnormalised frames [B,F,D] of mono audio [B,T] (or [T]) at any sample rate."""
        if wav.dim() == 1:
            wav = wav.unsqueeze(0)
        wav = resample(wav.float(), sample_rate, self.cfg.sample_rate)
        if self.cfg.source == "mel":
            assert self._mel is not None
            frames = torch.log(self._mel(wav) + 1e-6).transpose(1, 2)
            return frames[:, : wav.shape[-1] // self.mel_hop]
        assert self.model is not None
        frames = layer_features(self.model, self.cfg, wav)
        pool = max(1, self.cfg.pool)
        if pool > 1:
            frames = F.avg_pool1d(frames.transpose(1, 2), pool, pool).transpose(1, 2)
        return frames.float()

    def features(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Normalised frames [B,F,D] (raw frames if no statistics were fitted yet)."""
        frames = self.raw(wav, sample_rate)
        if self.mean is None or self.std is None:
            return frames
        return (frames - self.mean) / self.std

    def fit_stats(self, frames: torch.Tensor) -> None:
        """Fit per-dimension mean and std from frames [N,D] (unnormalised)."""
        frames = frames.double()
        self.mean = frames.mean(0).float()
        self.std = frames.std(0).clamp_min(1e-5).float()
