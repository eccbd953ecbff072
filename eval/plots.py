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
    save_spectrogram_row([wav], sample_rate, path, [title], panel_width=8.0)


def save_spectrogram_row(wavs: list[torch.Tensor], sample_rate: int, path: str | os.PathLike, titles: list[str],
                         panel_width: float = 4.0) -> None:
    """Write spectrograms of several mono clips side by side on one colour scale (atomic PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from training.files import atomic_path

    specs = [log_spectrogram(w, sample_rate).numpy() for w in wavs]
    top = max(float(s.max()) for s in specs)
    fig, axes = plt.subplots(1, len(specs), figsize=(panel_width * len(specs), 3), dpi=100, sharey=True, squeeze=False)
    for ax, db, wav, title in zip(axes[0], specs, wavs, titles):
        ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=top - 80, vmax=top,
                  extent=(0, wav.numel() / sample_rate, 0, sample_rate / 2000))
        if title:
            ax.set_title(title, fontsize=9)
        ax.set_xlabel("seconds")
    axes[0][0].set_ylabel("kHz")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
