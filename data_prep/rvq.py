"""Residual vector quantizer fitted level by level with faiss k-means on the residuals.

Used for the CLAP conditioning tokens (12 levels) and the learned melody embedding (24 levels).
Level i quantizes what levels 0..i-1 left over, so the first tokens carry the coarse content.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from training.files import atomic_torch_save

from .errors import DataError
from .files import load_weights


@dataclass(frozen=True)
class RVQStats:
    """How well the quantizer reconstructs a set of vectors."""

    relative_mse: float
    cosine: float
    per_level_relative_mse: list[float]
    codes_used: list[int]


class ResidualVQ:
    """A fitted residual quantizer: `codebooks` is Float[levels, bins, dim]."""

    def __init__(self, codebooks: torch.Tensor) -> None:
        if codebooks.dim() != 3:
            raise ValueError(f"codebooks must be [levels, bins, dim], got {tuple(codebooks.shape)}")
        self.codebooks = codebooks.detach().float().contiguous()

    @property
    def levels(self) -> int:
        return int(self.codebooks.shape[0])

    @property
    def bins(self) -> int:
        return int(self.codebooks.shape[1])

    @property
    def dim(self) -> int:
        return int(self.codebooks.shape[2])

    @classmethod
    def fit(cls, x: torch.Tensor, levels: int, bins: int, iters: int = 20, seed: int = 0) -> "ResidualVQ":
        """Fit `levels` codebooks of `bins` centroids on Float[N, D], each on the previous residuals."""
        import faiss

        data = np.ascontiguousarray(x.detach().float().cpu().numpy())
        if data.ndim != 2 or data.shape[0] < 2:
            raise DataError(f"RVQ needs at least 2 vectors of shape [N, D] to fit, got {tuple(data.shape)}")
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            books = []
            residual = data.copy()
            for level in range(levels):
                book = _kmeans(faiss, residual, bins, iters, seed + level)
                idx = _nearest(residual, book)
                residual = residual - book[idx]
                books.append(book)
        finally:
            faiss.omp_set_num_threads(threads)
        return cls(torch.from_numpy(np.stack(books)))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Float[B, D] -> Long[B, levels] token ids in [0, bins)."""
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected [B, {self.dim}] vectors, got {tuple(x.shape)}")
        residual = x.detach().float().cpu()
        codes = []
        for book in self.codebooks:
            idx = torch.cdist(residual, book).argmin(dim=1)
            residual = residual - book[idx]
            codes.append(idx)
        return torch.stack(codes, dim=1).long()

    def decode(self, codes: torch.Tensor, levels: int | None = None) -> torch.Tensor:
        """Long[B, L] -> Float[B, D], the sum of the first `levels` (default all given) centroids."""
        if codes.dim() != 2 or codes.shape[1] > self.levels:
            raise ValueError(f"expected [B, <= {self.levels}] codes, got {tuple(codes.shape)}")
        if int(codes.min()) < 0 or int(codes.max()) >= self.bins:
            raise ValueError(f"codes must lie in [0, {self.bins})")
        use = codes.shape[1] if levels is None else min(levels, codes.shape[1])
        out = torch.zeros(codes.shape[0], self.dim)
        for level in range(use):
            out = out + self.codebooks[level][codes[:, level].cpu()]
        return out

    def stats(self, x: torch.Tensor) -> RVQStats:
        """Reconstruction error of Float[N, D] after all levels and after each level."""
        x = x.detach().float().cpu()
        codes = self.encode(x)
        energy = float((x**2).sum(dim=1).mean()) or 1.0
        per_level = []
        for level in range(1, self.levels + 1):
            rec = self.decode(codes, levels=level)
            per_level.append(float(((x - rec) ** 2).sum(dim=1).mean()) / energy)
        rec = self.decode(codes)
        cos = float(torch.nn.functional.cosine_similarity(x, rec, dim=1).mean())
        used = [int(codes[:, i].unique().numel()) for i in range(self.levels)]
        return RVQStats(per_level[-1], cos, per_level, used)

    def state(self) -> dict:
        """Plain tensors and ints, loadable with weights_only=True."""
        return {"config": {"levels": self.levels, "bins": self.bins, "dim": self.dim}, "codebooks": self.codebooks.clone()}

    def save(self, path: str | os.PathLike) -> None:
        """Write the quantizer atomically."""
        atomic_torch_save(self.state(), path)

    @classmethod
    def from_state(cls, state: dict) -> "ResidualVQ":
        """Rebuild from `state()` output."""
        return cls(state["codebooks"])

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ResidualVQ":
        """Load a quantizer saved by `save`."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"RVQ file not found: {path} (train it first)")
        return cls.from_state(load_weights(path))


def stats_dict(stats: RVQStats) -> dict:
    """JSON-ready view of RVQStats."""
    return asdict(stats)


def _kmeans(faiss, data: np.ndarray, bins: int, iters: int, seed: int) -> np.ndarray:
    """k-means centroids [bins, D]; with fewer points than bins, the spare slots repeat real centroids."""
    n, dim = data.shape
    k = min(bins, n)
    km = faiss.Kmeans(dim, k, niter=iters, seed=seed, verbose=False, min_points_per_centroid=1,
                      max_points_per_centroid=max(256, (n + k - 1) // k))
    km.train(data)
    book = np.asarray(km.centroids, dtype=np.float32).reshape(k, dim)
    if k < bins:
        book = np.concatenate([book, book[np.arange(bins - k) % k]], axis=0)
    return book


def _nearest(data: np.ndarray, book: np.ndarray) -> np.ndarray:
    return torch.cdist(torch.from_numpy(data), torch.from_numpy(book)).argmin(dim=1).numpy()
