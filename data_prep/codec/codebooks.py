"""Codebook care for the encodec RVQ during training (training fix 1 in this package's README).

encodec 0.1.1's dead-code expiry writes new vectors into `embed` only; the next training forward recomputes
`embed = embed_avg / cluster_size`, so the replacement is lost and level 1 collapses to one code. Here
replacement resets `embed`, `embed_avg` and `cluster_size` together, and codebooks start from k-means on real frames.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def codebooks(model: nn.Module) -> list[nn.Module]:
    """The EuclideanCodebook of every RVQ level, in level order."""
    return [layer._codebook for layer in model.quantizer.vq.layers]


def kmeans(samples: torch.Tensor, k: int, iters: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain Lloyd k-means on [N, D] (random distinct starts, empty clusters re-seeded); returns centroids and counts."""
    n = samples.shape[0]
    if n >= k:
        start = torch.randperm(n, generator=generator)[:k]
    else:
        start = torch.randint(0, n, (k,), generator=generator)
    means = samples[start].clone()
    counts = torch.zeros(k)
    for _ in range(max(1, iters)):
        assign = nearest(samples, means)
        counts = torch.bincount(assign, minlength=k).float()
        sums = torch.zeros_like(means).index_add_(0, assign, samples)
        empty = counts == 0
        means = torch.where(empty[:, None], means, sums / counts.clamp(min=1)[:, None])
        if empty.any():
            reseed = torch.randint(0, n, (int(empty.sum()),), generator=generator)
            means[empty] = samples[reseed] + 1e-4 * torch.randn(int(empty.sum()), samples.shape[1], generator=generator)
    return means, counts


def nearest(x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Index of the nearest code (Euclidean) for each row of x."""
    dist = x.pow(2).sum(1, keepdim=True) - 2 * x @ codes.t() + codes.pow(2).sum(1)[None, :]
    return dist.argmin(dim=1)


@torch.no_grad()
def kmeans_init_(model: nn.Module, frames: torch.Tensor, iters: int = 10, generator: torch.Generator | None = None) -> None:
    """Initialise every level's codebook by k-means on the residual of real encoder frames [N, D], level by level."""
    residual = frames.float()
    for book in codebooks(model):
        k = book.embed.shape[0]
        means, counts = kmeans(residual, k, iters, generator)
        book.embed.data.copy_(means)
        book.embed_avg.data.copy_(means * counts.clamp(min=1)[:, None])
        book.cluster_size.data.copy_(counts.clamp(min=1))
        book.inited.data.fill_(1.0)
        residual = residual - means[nearest(residual, means)]


class ResidualCapture:
    """Forward pre-hooks that keep each RVQ level's latest training input (the residual it quantizes)."""

    def __init__(self, model: nn.Module):
        self.inputs: list[torch.Tensor | None] = [None] * len(model.quantizer.vq.layers)
        self._handles = [
            layer.register_forward_pre_hook(self._hook(i)) for i, layer in enumerate(model.quantizer.vq.layers)
        ]

    def _hook(self, index: int) -> Callable:
        def hook(module: nn.Module, args: tuple) -> None:
            self.inputs[index] = args[0].detach().transpose(1, 2).reshape(-1, args[0].shape[1])
        return hook

    def clear(self) -> None:
        """Forget the captured inputs (levels skipped by quantizer dropout stay None)."""
        self.inputs = [None] * len(self.inputs)

    def remove(self) -> None:
        """Detach the hooks."""
        for handle in self._handles:
            handle.remove()


@torch.no_grad()
def replace_dead_codes_(book: nn.Module, samples: torch.Tensor, threshold: float, reset: float = 1.0) -> int:
    """Re-seed codes whose EMA usage is below `threshold` with random batch vectors; returns how many.

    Unlike encodec's `expire_codes_`, it also sets `embed_avg = vector * reset` and `cluster_size = reset`, so the
    next EMA update keeps the new vector instead of restoring the dead one.
    """
    dead = book.cluster_size < threshold
    count = int(dead.sum())
    if count == 0 or samples.numel() == 0:
        return 0
    picks = samples[torch.randint(0, samples.shape[0], (count,))].to(book.embed.dtype)
    book.embed.data[dead] = picks
    book.embed_avg.data[dead] = picks * reset
    book.cluster_size.data[dead] = reset
    return count


def usage_perplexity(codes: torch.Tensor, bins: int) -> float:
    """exp(entropy) of the code histogram: how many codes a level effectively uses."""
    counts = torch.bincount(codes.reshape(-1), minlength=bins).float()
    p = counts / counts.sum().clamp(min=1)
    nz = p[p > 0]
    return float(torch.exp(-(nz * nz.log()).sum()))
