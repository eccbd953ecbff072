"""The small trainable CLAP: a conv encoder over log-mel frames and laion-clap's "transformer" text tower.

HTSAT-tiny at 48 kHz is too slow to train in minutes on two CPU cores, so the audio tower reads 64-bin
log-mel frames (precomputable once per clip) through a few strided 1-D convolutions with mean+max pooling.
The text tower is laion-clap's `Transformer` over its bundled CLIP BPE vocabulary, pooled at the EOT token.
"""
from __future__ import annotations

import importlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import ClapConfig
from .laion import clap_module, clip_tokenize

LOG_FLOOR = 1e-5


class LogMel(nn.Module):
    """Mono wav [B, T] at `sample_rate` -> log-mel [B, n_mels, frames]."""

    def __init__(self, sample_rate: int, n_mels: int, hop: int) -> None:
        super().__init__()
        import torchaudio

        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=4 * hop, hop_length=hop, n_mels=n_mels, f_min=30.0,
            f_max=sample_rate / 2, power=2.0, center=True,
        )

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return torch.log(self.mel(wav) + LOG_FLOOR)


class AudioTower(nn.Module):
    """Log-mel [B, n_mels, frames] -> embedding [B, embed_dim]; any number of frames >= 8."""

    def __init__(self, n_mels: int, width: int, embed_dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(n_mels, affine=False)
        layers: list[nn.Module] = []
        chans = [n_mels, width, width, 2 * width, 2 * width]
        for i, (cin, cout) in enumerate(zip(chans, chans[1:])):
            layers += [nn.Conv1d(cin, cout, 5, stride=1 if i == 0 else 2, padding=2), nn.GroupNorm(8, cout), nn.GELU()]
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Sequential(nn.Linear(4 * width, embed_dim), nn.GELU(), nn.Linear(embed_dim, embed_dim))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        h = self.convs(self.norm(mel))
        return self.proj(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1))


class TextTower(nn.Module):
    """CLIP BPE ids [B, L] -> embedding [B, embed_dim], pooled at the end-of-text token (the largest id)."""

    def __init__(self, width: int, layers: int, heads: int, embed_dim: int, context_length: int) -> None:
        super().__init__()
        clap_module()
        model_mod = importlib.import_module("clap_module.model")
        self.context_length = context_length
        self.token_embedding = nn.Embedding(49408, width, sparse=True)
        self.positional_embedding = nn.Parameter(torch.randn(context_length, width) * 0.01)
        self.transformer = model_mod.Transformer(width=width, layers=layers, heads=heads, act_layer=nn.GELU)
        self.ln_final = nn.LayerNorm(width)
        self.proj = nn.Sequential(nn.Linear(width, embed_dim), nn.GELU(), nn.Linear(embed_dim, embed_dim))
        nn.init.normal_(self.token_embedding.weight, std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        length = int((tokens != 0).sum(dim=1).max().clamp(min=1))
        tokens = tokens[:, :length]
        x = self.token_embedding(tokens) + self.positional_embedding[:length]
        mask = torch.full((length, length), float("-inf")).triu(1)
        x = self.transformer(x.permute(1, 0, 2), attn_mask=mask).permute(1, 0, 2)
        x = self.ln_final(x)
        return self.proj(x[torch.arange(x.shape[0]), tokens.argmax(dim=1)])


class SmallClap(nn.Module):
    """Both towers plus a learned temperature; embeddings are L2-normalised."""

    def __init__(self, cfg: ClapConfig) -> None:
        super().__init__()
        self.frontend = LogMel(cfg.sample_rate, cfg.n_mels, cfg.mel_hop)
        self.audio = AudioTower(cfg.n_mels, cfg.audio_width, cfg.embed_dim)
        self.text = TextTower(cfg.text_width, cfg.text_layers, cfg.text_heads, cfg.embed_dim, cfg.context_length)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.context_length = cfg.context_length

    def embed_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel [B, n_mels, frames] -> unit vectors [B, D]."""
        return F.normalize(self.audio(mel), dim=-1)

    def embed_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """CLIP BPE ids [B, L] -> unit vectors [B, D]."""
        return F.normalize(self.text(tokens), dim=-1)

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        """Captions -> CLIP BPE ids [B, context_length]."""
        return clip_tokenize(texts, self.context_length)

    def contrastive_loss(self, mel: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE over the batch (CLIP/CLAP loss)."""
        a, t = self.embed_mel(mel), self.embed_tokens(tokens)
        logits = self.logit_scale.clamp(max=math.log(100)).exp() * a @ t.T
        target = torch.arange(a.shape[0])
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
