"""Benchmark "tokens": token-cache throughput (audio seconds per second) and faiss k-means vs scikit-learn MiniBatchKMeans.

Everything is built here from fresh tiny-profile tokenizers and synthetic audio, so it needs no trained run.
"""
from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from data_prep.audio_io import save_wav
from data_prep.cache.tokenize import cache_meta, make_tokenize_fn
from data_prep.cache.writer import write_cache
from data_prep.semantic.config import KMeansConfig, SemanticConfig
from data_prep.semantic.fit import fit_tokenizer
from data_prep.semantic.kmeans import assign, fit_kmeans
from data_prep.semantic.tokenizer import SemanticTokenizer


def bench_tokens(quick: bool = False) -> dict[str, Any]:
    """Tokenize throughput and the k-means comparison, measured side by side in this process."""
    figures = bench_tokenize(quick)
    figures.update(bench_kmeans(quick))
    return figures


def _tone_clips(n: int, seconds: float, sr: int, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * sr)) / sr
    clips = []
    for _ in range(n):
        f0 = 110.0 * 2 ** (float(torch.randint(0, 36, (1,), generator=gen)) / 12)
        clips.append(0.3 * torch.sin(2 * math.pi * f0 * t) + 0.01 * torch.randn(t.shape, generator=gen))
    return clips


def _tokenizers(sr: int, clips: list[torch.Tensor]) -> tuple[Any, Any, Any]:
    from data_prep.clap.config import ClapConfig
    from data_prep.clap.tokenizer import ConditionTokenizer
    from data_prep.codec.config import CodecConfig
    from data_prep.codec.tokenizer import CodecTokenizer
    from data_prep.rvq import ResidualVQ
    torch.manual_seed(0)
    codec = CodecTokenizer.from_config(CodecConfig())
    cond = ConditionTokenizer.small(ClapConfig())
    cond.rvq = ResidualVQ.fit(torch.nn.functional.normalize(torch.randn(512, cond.embed_audio(clips[0], sr).shape[-1]), dim=-1),
                              levels=12, bins=16, iters=5)
    sem_cfg = SemanticConfig(kmeans=KMeansConfig(clusters=64, iters=10))
    semantic = SemanticTokenizer.from_config(sem_cfg)
    fit_tokenizer(semantic, clips, sr, sem_cfg.kmeans)
    return codec, cond, semantic


def bench_tokenize(quick: bool = False) -> dict[str, float]:
    """Audio seconds per wall second: write_cache with tiny-profile codec, CLAP+RVQ and SSL semantic; semantic ssl vs mel alone."""
    sr = 24000
    n, seconds = (4, 5.0) if quick else (16, 10.0)
    clips = _tone_clips(n, seconds, sr)
    codec, cond, semantic = _tokenizers(sr, clips[:4])
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for i, clip in enumerate(clips):
            path = Path(tmp) / f"clip{i}.wav"
            save_wav(path, clip, sr)
            rows.append({"id": f"c{i}", "path": str(path), "seconds": seconds, "split": "train"})
        fn = make_tokenize_fn(codec, cond, semantic, None)
        meta = cache_meta(codec, cond, semantic, None)
        start = time.perf_counter()
        counts = write_cache(rows, fn, Path(tmp) / "cache", shard_size=4, meta=meta)
        wall = time.perf_counter() - start
    mel = SemanticTokenizer.from_config(SemanticConfig(source="mel", kmeans=KMeansConfig(clusters=64, iters=10)))
    fit_tokenizer(mel, clips[:4], sr, mel.cfg.kmeans)
    audio = n * seconds
    return {
        "tokenize_audio_s_per_s": round(audio / wall, 2),
        "semantic_ssl_audio_s_per_s": round(audio / _tokens_wall(semantic, clips, sr), 2),
        "semantic_mel_audio_s_per_s": round(audio / _tokens_wall(mel, clips, sr), 2),
        "tokenize_clips": float(counts["clips"]),
        "tokenize_rejects": float(counts["rejects"]),
    }


def _tokens_wall(tok: Any, clips: list[torch.Tensor], sr: int) -> float:
    start = time.perf_counter()
    for clip in clips:
        tok.tokens(clip.unsqueeze(0), sr)
    return time.perf_counter() - start


def _mixture(n: int, dim: int, centres: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(centres, dim)).astype(np.float32) * 3.0
    return (means[rng.integers(0, centres, n)] + rng.normal(size=(n, dim)).astype(np.float32)).astype(np.float32)


def bench_kmeans(quick: bool = False) -> dict[str, float]:
    """faiss k-means vs MiniBatchKMeans on one 1024-cluster problem: time ratio and inertia (same data, same metric)."""
    from sklearn.cluster import MiniBatchKMeans

    n, dim, k, iters = (20_000, 32, 1024, 10) if quick else (100_000, 64, 1024, 20)
    x = _mixture(n, dim, 2048, seed=0)
    xt = torch.from_numpy(x)
    start = time.perf_counter()
    centroids, faiss_inertia = fit_kmeans(xt, KMeansConfig(clusters=k, max_frames=n, iters=iters, seed=0))
    faiss_s = time.perf_counter() - start
    start = time.perf_counter()
    mbk = MiniBatchKMeans(n_clusters=k, batch_size=4096, max_iter=iters, n_init=1, random_state=0).fit(x)
    sk_s = time.perf_counter() - start
    _, sk_inertia = assign(xt, torch.from_numpy(mbk.cluster_centers_.astype(np.float32)))
    return {
        "kmeans_points": float(n),
        "kmeans_dim": float(dim),
        "kmeans_clusters": float(k),
        "faiss_kmeans_s": round(faiss_s, 3),
        "sklearn_minibatch_s": round(sk_s, 3),
        "sklearn_over_faiss_time": round(sk_s / faiss_s, 2),
        "faiss_inertia_per_point": round(faiss_inertia / n, 4),
        "sklearn_inertia_per_point": round(sk_inertia / n, 4),
        "sklearn_over_faiss_inertia": round(sk_inertia / faiss_inertia, 4),
    }
