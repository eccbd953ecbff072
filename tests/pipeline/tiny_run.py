"""A complete run of tiny random components, for orchestrator/generation tests."""
from __future__ import annotations

import os
import socket
from pathlib import Path

from pipeline.profile import load_profile
from pipeline.random_run import build_random_run
from pipeline.run_dir import RunDir

TINY = [
    "stages.semantic.crop_seconds=2.0", "stages.coarse.crop_seconds=0.4", "stages.fine.crop_seconds=0.2",
    "codec.n_filters=2", "codec.dimension=16", "codec.bins=32", "codec.bandwidth=3.0", "codec.n_coarse=2",
    "clap.embed_dim=16", "clap.audio_width=16", "clap.text_width=16", "clap.text_layers=1", "clap.text_heads=2", "clap.n_mels=16",
    "rvq.levels=3", "rvq.bins=8", "semantic.kmeans.clusters=16",
] + [f"stages.{s}.model={{n_layers: 1, n_heads: 2, d_model: 16, d_ff: 32, dropout: 0.0}}" for s in ("semantic", "coarse", "fine")]


def build_tiny_run(root: Path, melody: bool = False) -> RunDir:
    """Every component random and tiny: fast to load and to sample from."""
    profile = load_profile("tiny", TINY + ["melody.kind=" + ("chroma" if melody else "none")])
    return build_random_run(root, profile, rvq_fit_vectors=64)


def single_process_env(monkeypatch) -> None:
    """The torch.distributed variables of a one-process DeepSpeed run on a free port (a launcher's port wins)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    for key, value in dict(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", DS_ACCELERATOR="cpu",
                           MASTER_PORT=os.environ.get("MASTER_PORT", port)).items():
        monkeypatch.setenv(key, value)
