"""Reconstruction losses of EnCodec plus the linear-magnitude mel term (training fix 3 in this package's README) and a
full-resolution log-STFT term (fix 4)."""
from __future__ import annotations

import torch
from torch import nn

LOG_EPS = 1e-5


class MultiScaleMel(nn.Module):
    """Magnitude mel spectrograms at several STFT sizes (hop = n_fft / 4)."""

    def __init__(self, sample_rate: int, scales: list[int]):
        super().__init__()
        import torchaudio.transforms as T

        self.mels = nn.ModuleList(
            T.MelSpectrogram(
                sample_rate=sample_rate, n_fft=n, win_length=n, hop_length=n // 4,
                n_mels=min(64, n // 8), power=1.0, normalized=False, center=True,
            )
            for n in scales
        )

    def forward(self, wav: torch.Tensor) -> list[torch.Tensor]:
        """[B, T] -> one [B, n_mels, frames] magnitude mel per scale."""
        return [mel(wav) for mel in self.mels]


class MultiScaleSTFT(nn.Module):
    """Magnitude spectrograms at several STFT sizes (hop = n_fft / 4), every linear frequency bin kept."""

    def __init__(self, scales: list[int]):
        super().__init__()
        import torchaudio.transforms as T

        self.specs = nn.ModuleList(T.Spectrogram(n_fft=n, win_length=n, hop_length=n // 4, power=1.0) for n in scales)

    def forward(self, wav: torch.Tensor) -> list[torch.Tensor]:
        """[B, T] -> one [B, n_fft / 2 + 1, frames] magnitude spectrogram per scale."""
        return [spec(wav) for spec in self.specs]


def log_stft_loss(specs: MultiScaleSTFT, ref: torch.Tensor, est: torch.Tensor) -> torch.Tensor:
    """Log-magnitude L1 over every STFT bin, averaged over scales. Mel bands average away the quiet bins between a
    note's partials, so a decoder trained on mel terms alone fills them with noise (a flat, hissy spectrum)."""
    terms = [(torch.log(r.clamp(min=LOG_EPS)) - torch.log(e.clamp(min=LOG_EPS))).abs().mean()
             for r, e in zip(specs(ref), specs(est))]
    return torch.stack(terms).mean()


def mel_losses(mels: MultiScaleMel, ref: torch.Tensor, est: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-mel L1, linear-mel L1), each averaged over scales; log-mel alone learns loudness, not pitch."""
    log_terms, lin_terms = [], []
    for m_ref, m_est in zip(mels(ref), mels(est)):
        lin_terms.append((m_ref - m_est).abs().mean())
        log_terms.append((torch.log(m_ref.clamp(min=LOG_EPS)) - torch.log(m_est.clamp(min=LOG_EPS))).abs().mean())
    return torch.stack(log_terms).mean(), torch.stack(lin_terms).mean()


def mel_distance(mels: MultiScaleMel, ref: torch.Tensor, est: torch.Tensor) -> float:
    """Evaluation metric: mean log-mel L1 over scales (lower is better)."""
    with torch.inference_mode():
        log, _ = mel_losses(mels, ref, est)
    return float(log)
