"""Benchmark `audit`: batched Sinkhorn pair costs against a per-pair POT loop on the same token sequences (CPU).

The pairs look like audit pairs: 5 s continuations at 25 Hz (125 tokens), made of runs of tokens drawn from a
per-clip palette, in two workloads: dense histograms like the tiny profile's real tokens and sparse ones.  Both sides start from token
sequences (histograms and ground costs included), use the same epsilon, iteration cap and stopping tolerance,
and run on one thread (numpy's small products do; torch is set to 1 thread for the measurement), like for like.
POT is a benchmark/test-only dependency and is imported here, inside the function, only.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from .memorization import centroid_distances, pair_costs
from .sinkhorn import SinkhornSettings


def synthetic_pairs(n_pairs: int, length: int = 125, vocab: int = 1024, dim: int = 64, palette: int = 48,
                    mean_run: float = 3.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(generated [N,T], target [N,T], centroids [V,D]): run-structured token sequences over per-pair palettes."""
    rng = np.random.default_rng(seed)
    centroids = torch.from_numpy(rng.normal(size=(vocab, dim)).astype(np.float32))

    def sequence() -> np.ndarray:
        colours = rng.choice(vocab, size=palette, replace=False)
        out: list[int] = []
        while len(out) < length:
            out += [int(rng.choice(colours))] * int(rng.geometric(1.0 / mean_run))
        return np.array(out[:length])

    gen = torch.from_numpy(np.stack([sequence() for _ in range(n_pairs)]))
    tgt = torch.from_numpy(np.stack([sequence() for _ in range(n_pairs)]))
    return gen, tgt, centroids


def pot_pair_costs(generated: torch.Tensor, target: torch.Tensor, centroids: torch.Tensor, settings: SinkhornSettings,
                   unit: float) -> np.ndarray:
    """The reference: one ot.sinkhorn2 call per pair on the same supports and ground cost."""
    import ot

    c = centroids.double().numpy()
    out = np.empty(generated.shape[0])
    for k in range(generated.shape[0]):
        ia, ca = np.unique(generated[k].numpy(), return_counts=True)
        ib, cb = np.unique(target[k].numpy(), return_counts=True)
        cost = np.linalg.norm(c[ia][:, None, :] - c[ib][None, :, :], axis=-1) / unit
        out[k] = ot.sinkhorn2(ca / ca.sum(), cb / cb.sum(), cost, settings.epsilon,
                              numItermax=settings.iters, stopThr=settings.tol)
    return out


WORKLOADS = {
    # Like the tiny profile's real tokens: 256 clusters; runs/embed's SSL tokens had 81 distinct ids per 5 s window.
    "dense": {"vocab": 256, "palette": 150, "mean_run": 1.3},
    # Sparser histograms (repetitive tokens over a 1024-cluster vocabulary): about 28 distinct ids per window.
    "sparse": {"vocab": 1024, "palette": 48, "mean_run": 3.0},
}


def bench_audit(quick: bool = False) -> dict[str, Any]:
    """Per workload: pairs/s of the batched torch Sinkhorn and of a POT loop on the same pairs, ratio and agreement.

    Each side is timed `repeats` times, interleaved, and its best time is kept, so a busy machine hurts both alike.
    """
    n_pairs, n_pot, repeats = (512, 32, 1) if quick else (4096, 128, 3)
    settings = SinkhornSettings(epsilon=0.05, iters=200, tol=1e-6)
    figures: dict[str, Any] = {"epsilon": settings.epsilon, "iters_cap": settings.iters, "tol": settings.tol,
                               "pairs_batched": n_pairs, "pairs_pot": n_pot, "repeats_best_of": repeats,
                               "threads": 1, "target_speedup": 50.0}
    for name, shape in WORKLOADS.items():
        for key, value in _workload(n_pairs, n_pot, repeats, settings, **shape).items():
            figures[f"{name}_{key}"] = value
    return figures


def _workload(n_pairs: int, n_pot: int, repeats: int, settings: SinkhornSettings, **shape: Any) -> dict[str, Any]:
    gen, tgt, centroids = synthetic_pairs(n_pairs, **shape)
    threads = torch.get_num_threads()
    distances = centroid_distances(centroids)
    pair_costs(gen[:64], tgt[:64], centroids, settings, distances)
    pot_pair_costs(gen[:4], tgt[:4], centroids, settings, distances[1])
    best: dict[str, float] = {}

    def timed(name: str, fn: Any) -> Any:
        start = time.perf_counter()
        out = fn()
        best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
        return out

    try:
        torch.set_num_threads(1)
        for _ in range(repeats):
            ours = timed("torch", lambda: pair_costs(gen, tgt, centroids, settings, centroid_distances(centroids)))
            ref = timed("pot", lambda: pot_pair_costs(gen[:n_pot], tgt[:n_pot], centroids, settings, distances[1]))
    finally:
        torch.set_num_threads(threads)
    pot_rate, rate = n_pot / best["pot"], n_pairs / best["torch"]
    support = torch.tensor([torch.unique(r).numel() for r in gen[:256]], dtype=torch.float32)
    rel = np.abs(ours[:n_pot].double().numpy() - ref) / np.maximum(np.abs(ref), 1e-12)
    return {
        "mean_support": round(float(support.mean()), 1),
        "pot_loop_pairs_per_s": round(pot_rate, 1),
        "batched_pairs_per_s": round(rate, 1),
        "speedup": round(rate / pot_rate, 1),
        "max_rel_diff_vs_pot": float(rel.max()),
    }
