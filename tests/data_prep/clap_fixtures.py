"""Tiny captioned audio sets and configs for the CLAP/melody tests (built on the fly, a few seconds of audio)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from data_prep.audio_io import save_wav
from data_prep.clap.config import ClapConfig, ClapTrainConfig

SR = 16000


def tone(freq: float, seconds: float, sr: int = SR, noisy: bool = False, seed: int = 0) -> torch.Tensor:
    """A harmonic tone (or a noise burst train when `noisy`) as mono float [T]."""
    t = torch.arange(int(seconds * sr)) / sr
    if noisy:
        g = torch.Generator().manual_seed(seed)
        env = (torch.sin(2 * math.pi * 4 * t) > 0.7).float()
        return 0.3 * env * torch.randn(t.shape[0], generator=g)
    return 0.3 * sum(torch.sin(2 * math.pi * freq * k * t) / k for k in (1, 2, 3))


def write_corpus(root: Path, n: int = 8, seconds: float = 2.0) -> Path:
    """A JSONL manifest of n clips alternating 'strings' tones and 'percussion' noise, train/valid splits."""
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        noisy = i % 2 == 1
        wav = tone(220.0 * (1 + i % 3), seconds, noisy=noisy, seed=i)
        path = root / f"clip{i}.wav"
        save_wav(path, wav, SR)
        family = "percussion" if noisy else "strings"
        attrs = {"family": family, "drums": noisy, "tempo_word": "fast" if i % 4 < 2 else "slow", "mode": "major"}
        lines.append({"id": f"clip{i}", "path": path.name, "caption": f"{family} music, {attrs['tempo_word']} tempo",
                      "seconds": seconds, "sample_rate": SR, "split": "train" if i < n - 2 else "valid",
                      "attributes": attrs})
    manifest = root / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return manifest


def tiny_config(steps: int = 4) -> ClapConfig:
    """A very small CLAP that trains a few steps in about a second."""
    return ClapConfig(embed_dim=32, audio_width=16, text_width=32, text_layers=1, text_heads=2, window_seconds=1.0, mel_hop=320,
                      hop_seconds=0.5, train=ClapTrainConfig(steps=steps, batch_size=4, crop_seconds=0.5,
                                                            warmup_steps=1, ckpt_every=2))


def melody_wav(notes: list[int], note_seconds: float, timbre: int, sr: int = SR) -> torch.Tensor:
    """A monophonic line of MIDI notes; timbre 0 = all harmonics, 1 = odd harmonics an octave up."""
    parts = []
    n = int(note_seconds * sr)
    t = torch.arange(n) / sr
    env = torch.clamp(t / 0.01, max=1.0) * torch.clamp((note_seconds - t) / 0.02, max=1.0)
    for midi in notes:
        f = 440.0 * 2 ** ((midi - 69 + (12 if timbre else 0)) / 12)
        ks = (1, 2, 3, 4) if timbre == 0 else (1, 3, 5)
        parts.append(0.2 * env * sum(torch.sin(2 * math.pi * f * k * t) / k for k in ks))
    return torch.cat(parts)


def write_melody_corpus(root: Path, groups: int = 6, seconds: float = 8.0, heldout: int = 3) -> Path:
    """Same-melody pairs (two timbres per random melody); the last `heldout` groups are the test split."""
    root.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(1)
    lines = []
    for k in range(groups):
        notes = (torch.randint(55, 75, (int(seconds * 2),), generator=g)).tolist()
        for timbre in (0, 1):
            ident = f"m{k}_{timbre}"
            save_wav(root / f"{ident}.wav", melody_wav(notes, 0.5, timbre), SR)
            lines.append({"id": ident, "path": f"{ident}.wav", "caption": "a melody", "seconds": seconds,
                          "sample_rate": SR, "split": "test" if k >= groups - heldout else "train",
                          "melody_group": f"g{k}", "attributes": {"family": ["keyboard", "brass"][timbre]}})
    manifest = root / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return manifest
