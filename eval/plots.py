"""Small matplotlib (Agg) helpers shared by reports: spectrograms."""
from __future__ import annotations

import os

import torch


def log_spectrogram(wav: torch.Tensor, sample_rate: int, n_fft: int = 1024, hop: int = 256) -> torch.Tensor:
    """Log-magnitude STFT [freq, frames] in dB."""
    spec = torch.stft(wav.float().reshape(-1), n_fft, hop, window=torch.hann_window(n_fft), return_complex=True).abs()
    return 20 * torch.log10(spec.clamp_min(1e-5))


def save_spectrogram(wav: torch.Tensor, sample_rate: int, path: str | os.PathLike, title: str = "") -> None:
    """Write a spectrogram PNG of mono audio (atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from data_prep.files import atomic_path

    db = log_spectrogram(wav, sample_rate).numpy()
    seconds = wav.numel() / sample_rate
    fig, ax = plt.subplots(figsize=(8, 3), dpi=100)
    ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=db.max() - 80, vmax=db.max(),
              extent=(0, seconds, 0, sample_rate / 2000))
    ax.set_xlabel("seconds")
    ax.set_ylabel("kHz")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
