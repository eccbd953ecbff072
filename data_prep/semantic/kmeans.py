"""k-means with faiss: fit on a sampled frame set with a fixed seed, assign in batches, save the centroids."""
from __future__ import annotations

import os
from dataclasses import asdict

import numpy as np
import torch

from training.files import atomic_torch_save

from ..errors import DataError
from ..files import load_weights
from .config import KMeansConfig


def sample_frames(frames: torch.Tensor, max_frames: int, seed: int) -> torch.Tensor:
    """At most `max_frames` rows of `frames` [N,D], drawn without replacement by a seeded generator."""
    if frames.shape[0] <= max_frames:
        return frames
    gen = torch.Generator().manual_seed(seed)
    return frames[torch.randperm(frames.shape[0], generator=gen)[:max_frames]]


def fit_kmeans(frames: torch.Tensor, cfg: KMeansConfig) -> tuple[torch.Tensor, float]:
    """faiss k-means on frames [N,D] -> (centroids [K,D], final inertia = sum of squared distances)."""
    import faiss

    x = np.ascontiguousarray(sample_frames(frames, cfg.max_frames, cfg.seed).float().numpy())
    if x.shape[0] < cfg.clusters:
        raise DataError(
            f"k-means needs at least semantic.kmeans.clusters={cfg.clusters} frames, got {x.shape[0]}: "
            "add audio or lower the cluster count"
        )
    km = faiss.Kmeans(
        x.shape[1], cfg.clusters, niter=cfg.iters, seed=cfg.seed, verbose=False,
        max_points_per_centroid=max(256, x.shape[0] // cfg.clusters + 1),
    )
    km.train(x)
    centroids = torch.from_numpy(np.array(km.centroids, dtype=np.float32))
    _, inertia = assign(frames, centroids, cfg.assign_batch)
    return centroids, inertia


def assign(frames: torch.Tensor, centroids: torch.Tensor, batch: int = 65536) -> tuple[torch.Tensor, float]:
    """Nearest centroid id per row of frames [N,D] (batched through a faiss flat index) and the summed squared distance."""
    import faiss

    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids.float().numpy()))
    ids = []
    total = 0.0
    for start in range(0, frames.shape[0], max(1, batch)):
        chunk = np.ascontiguousarray(frames[start : start + batch].float().numpy())
        dist, idx = index.search(chunk, 1)
        ids.append(torch.from_numpy(idx[:, 0].astype(np.int64)))
        total += float(dist.sum())
    if not ids:
        return torch.zeros(0, dtype=torch.long), 0.0
    return torch.cat(ids), total


def save_kmeans(path: str | os.PathLike, centroids: torch.Tensor, cfg: KMeansConfig, inertia: float, source: str) -> None:
    """Write {config, centroids, inertia, source} atomically (the audit reads the centroids)."""
    atomic_torch_save(
        {"config": asdict(cfg), "centroids": centroids.float().contiguous(), "inertia": float(inertia), "source": source},
        path,
    )


def load_centroids(path: str | os.PathLike) -> torch.Tensor:
    """Centroids [K,D] from a kmeans.pt."""
    if not os.path.isfile(path):
        raise DataError(f"k-means file not found: {path} (run `strata train kmeans --run R`)")
    blob = load_weights(path)
    return blob["centroids"].float()
