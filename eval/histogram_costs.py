"""Transport costs between token-count histograms: the ground cost from k-means centroids and batched Sinkhorn
solves over many pairs at once (each pair on its own sparse support)."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from .sinkhorn import SinkhornSettings, Workspace, sinkhorn_cost

PAIRS_PER_BATCH = 1024
MIN_PAIRS_PER_BATCH = 16
# Kernels of one batch (fp32) stay within this many bytes: big enough to amortise each batched call, small enough
# for the iterations to run from cache.
KERNEL_BYTES_PER_BATCH = 4 << 20
# Cost entries gathered at once (fp32: 32 MiB).
GATHER_CELLS = 8 << 20


def centroid_distances(centroids: torch.Tensor, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, float]:
    """Euclidean distances between all centroids [K,K] (computed in float64, returned in dtype) and their mean over
    distinct pairs (the ground-cost unit)."""
    c = centroids.double()
    dist = torch.cdist(c[None], c[None])[0]
    k = c.shape[0]
    unit = float(dist.sum() / (k * (k - 1))) if k > 1 else 1.0
    return dist.to(dtype), unit if unit > 0 else 1.0


def padded_histograms(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse histograms of the rows of tokens [N,T]: (support ids [N,S] int32, mass [N,S]), zero mass pads to S = max
    support.  Ids stay int32, the type the cost gather indexes with (and half the memory traffic of int64)."""
    n, t = tokens.shape
    if t == 0:
        raise ValueError("cannot build a histogram of an empty token sequence")
    # numpy sorts short int32 rows with SIMD sorting networks, much faster than torch's sort on the same rows.
    ordered = np.sort(tokens.detach().cpu().to(torch.int32).numpy(), axis=1)
    new = np.empty((n, t), dtype=bool)
    new[:, 0] = True
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=new[:, 1:])
    slot = torch.from_numpy(new).cumsum(1).sub_(1)
    width = int(slot[:, -1].max()) + 1
    ids = torch.zeros(n, width, dtype=torch.int32).scatter_(1, slot, torch.from_numpy(ordered))
    mass = torch.zeros(n, width).scatter_add_(1, slot, torch.full((1, 1), 1.0 / t).expand(n, t))
    return ids, mass


def pair_costs(
    generated: torch.Tensor,
    target: torch.Tensor,
    centroids: torch.Tensor,
    settings: SinkhornSettings = SinkhornSettings(),
    distances: tuple[torch.Tensor, float] | None = None,
    batch_size: int = PAIRS_PER_BATCH,
    workspace: Workspace | None = None,
) -> torch.Tensor:
    """Sinkhorn cost between the histograms of generated[i] and target[i] (both [N,T]) -> Float[N].

    The ground cost is the centroid distance matrix in units of its mean (pass `distances` from centroid_distances
    to reuse it).  Pairs are sorted by support size and solved in batches, so padding stays small; a batch holds at
    most batch_size pairs and, down to MIN_PAIRS_PER_BATCH, only as many as keep its kernels within
    KERNEL_BYTES_PER_BATCH.  A caller scoring several sets of pairs passes one workspace to all of them, so that its
    buffers are touched once (see Workspace).
    """
    if generated.shape[0] != target.shape[0]:
        raise ValueError("generated and target need the same number of rows")
    n = generated.shape[0]
    if n == 0:
        return torch.zeros(0)
    dist, unit = centroid_distances(centroids) if distances is None else distances
    vocab = dist.shape[0]
    ids_a, mass_a = padded_histograms(generated)
    ids_b, mass_b = padded_histograms(target)
    for name, ids in (("generated", ids_a), ("target", ids_b)):
        low, high = torch.aminmax(ids)
        if int(low) < 0 or int(high) >= vocab:
            raise ValueError(f"{name} tokens fall outside the {vocab} k-means clusters")
    index_type = torch.int32 if vocab * vocab < 2**31 else torch.long
    ids_a, ids_b = ids_a.to(index_type), ids_b.to(index_type)
    # Solve on raw distances with epsilon scaled by the unit, then rescale: one pass less over every cost matrix.
    raw = replace(settings, epsilon=settings.epsilon * unit)
    workspace = workspace or Workspace()
    flat_distances = dist.reshape(-1)
    out = torch.empty(n)
    for chunk in _gather_chunks(_batches((mass_a > 0).sum(1), (mass_b > 0).sum(1), batch_size)):
        # The costs of a whole chunk are gathered before any of it is solved: the solves evict the distance table
        # from cache, so gathering between solves would reload it for every batch.
        cells = [b.cells for b in chunk]
        costs = workspace.take("cost", (sum(cells),), dist.dtype).split(cells)
        for b, cost in zip(chunk, costs):
            flat = workspace.take("cost_index", b.shape, index_type)
            torch.add(ids_a[b.rows, : b.shape[1], None] * vocab, ids_b[b.rows, None, : b.shape[2]], out=flat)
            torch.index_select(flat_distances, 0, flat.view(-1), out=cost)
        for b, cost in zip(chunk, costs):
            a, m = mass_a[b.rows, : b.shape[1]], mass_b[b.rows, : b.shape[2]]
            out[b.rows] = sinkhorn_cost(a, m, cost.view(b.shape), raw, workspace).float()
    return out / unit


@dataclass
class _PairBatch:
    """Rows of one solve and its padded shape (pairs, support of generated, support of target)."""

    rows: torch.Tensor
    shape: tuple[int, int, int]

    @property
    def cells(self) -> int:
        return math.prod(self.shape)


def _batches(size_a: torch.Tensor, size_b: torch.Tensor, batch_size: int) -> list[_PairBatch]:
    """Pairs in order of support size, cut into batches whose kernels fit KERNEL_BYTES_PER_BATCH."""
    size = torch.maximum(size_a, size_b)
    order = torch.argsort(size)
    n, start, batches = len(order), 0, []
    while start < n:
        widest = int(size[order[min(start + batch_size, n) - 1]])
        count = max(MIN_PAIRS_PER_BATCH, min(batch_size, KERNEL_BYTES_PER_BATCH // (4 * widest * widest)))
        rows = order[start : start + count]
        batches.append(_PairBatch(rows, (len(rows), int(size_a[rows].max()), int(size_b[rows].max()))))
        start += count
    return batches


def _gather_chunks(batches: list[_PairBatch]) -> list[list[_PairBatch]]:
    """Consecutive batches grouped up to GATHER_CELLS cost entries (a batch bigger than that is a chunk alone)."""
    chunks: list[list[_PairBatch]] = []
    total = GATHER_CELLS
    for b in batches:
        if total + b.cells > GATHER_CELLS:
            chunks.append([])
            total = 0
        chunks[-1].append(b)
        total += b.cells
    return chunks
