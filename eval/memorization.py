"""Memorization-audit maths (MusicLM §4.4): exact and approximate matches of greedy continuations.

Approximate matching compares token-count histograms with the Sinkhorn transport cost over a ground cost of
Euclidean distances between the k-means centroids (in units of the mean inter-centroid distance, so epsilon and
tau read the same for any tokenizer), restricted to each side's non-zero support.  The match threshold tau is
calibrated on negative pairs, never copied from another tokenizer.  Pairs whose target is near-constant (at most two
distinct tokens, or a normalised token entropy under a floor: silence, a held note) are trivial: they are counted on
their own and left out of both the calibration and the approximate matches, since any two silences match.  A
near-constant continuation of a varied target stays in: its cost is high, so it needs no exception.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Sequence

import numpy as np
import torch

from .sinkhorn import SinkhornSettings, Workspace, sinkhorn_cost

PAIRS_PER_BATCH = 1024
MIN_PAIRS_PER_BATCH = 16
KERNEL_BYTES_PER_BATCH = 4 << 20
# Cost entries gathered at once (fp32: 32 MiB); the audit bench's 4096 sparse pairs fit in one gather.
GATHER_CELLS = 8 << 20
# A continuation of at most this many distinct tokens is trivial whatever its entropy.
TRIVIAL_MAX_DISTINCT = 2
DEFAULT_TRIVIAL_ENTROPY = 0.2


@dataclass
class PromptGroup:
    """Greedy continuations for one prompt length: generated and true tokens, one row per example."""

    prompt_seconds: float
    prompt_tokens: int
    example_ids: list[str]
    example_index: torch.Tensor
    generated: torch.Tensor
    target: torch.Tensor


@dataclass
class TauCalibration:
    """The approximate-match threshold and the false-positive rate it achieves on the negatives."""

    tau: float
    max_fpr: float
    achieved_fpr: float
    false_positives: int
    n_negatives: int
    resolvable: bool
    note: str
    trivial_negatives: int = 0


@dataclass
class AuditResult:
    """Everything the audit report shows; plain data so it serialises to JSON."""

    settings: dict[str, Any]
    calibration: TauCalibration
    per_prompt: list[dict[str, Any]]
    candidate_costs: list[dict[str, Any]]
    negative_costs: list[float]
    closest: list[dict[str, Any]]
    novelty: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return asdict(self)


def exact_matches(generated: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Bool[N]: row i of generated [N,T] equals row i of target [N,T] token for token."""
    if generated.shape != target.shape:
        raise ValueError(f"generated {tuple(generated.shape)} and target {tuple(target.shape)} differ in shape")
    return (generated == target).all(dim=1)


def token_entropy(tokens: torch.Tensor) -> float:
    """Shannon entropy in bits of a token sequence's histogram: low values flag trivial (e.g. silent) matches."""
    _, counts = torch.unique(tokens.reshape(-1), return_counts=True)
    p = counts.double() / counts.sum()
    return float(-(p * p.log2()).sum()) + 0.0  # + 0.0: a one-token sequence reads 0, not -0


def trivial_rows(tokens: torch.Tensor, vocab: int, entropy_floor: float = DEFAULT_TRIVIAL_ENTROPY) -> torch.Tensor:
    """Bool[N]: rows of tokens [N,T] that are near-constant: at most TRIVIAL_MAX_DISTINCT distinct tokens, or token
    entropy below entropy_floor times the most a row of T tokens over `vocab` clusters can have (log2 min(T, vocab))."""
    n, t = tokens.shape
    if n == 0:
        return torch.zeros(0, dtype=torch.bool)
    _, mass = padded_histograms(tokens)
    distinct = (mass > 0).sum(1)
    bits = -(mass * torch.where(mass > 0, mass, torch.ones_like(mass)).log2()).sum(1)
    ceiling = math.log2(max(1, min(t, vocab)))
    normalised = bits / ceiling if ceiling > 0 else torch.zeros(n)
    return (distinct <= TRIVIAL_MAX_DISTINCT) | (normalised < entropy_floor)


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
    # numpy sorts short int32 rows with SIMD sorting networks: about 6x faster than torch's sort on the same rows.
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

    The ground cost is the centroid distance matrix in units of its mean (pass `distances` from
    centroid_distances to reuse it).  Pairs are sorted by support size and solved in batches, so padding stays small;
    a batch holds at most batch_size pairs and, down to 16, only as many as keep its kernels (fp32) within about
    4 MiB: big enough to amortise each batched call, small enough for the iterations to run from cache (a sweep of
    1-16 MiB on the audit bench found 4 best).  A caller scoring several sets of pairs passes one workspace to all
    of them: its buffers are then touched once (first touches of fresh pages are expensive, see Workspace).
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
        # from cache, and gathering batch by batch between them made a 1024-cluster table's lookups 3x slower.
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


def negative_pairs(example_index: torch.Tensor, max_pairs: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Index pairs (i, j) with different examples: continuation i is scored against the target of row j.

    All such pairs when they number at most max_pairs, otherwise a seeded uniform sample of max_pairs.
    """
    n = example_index.shape[0]
    same = example_index[:, None] == example_index[None, :]
    total = int((~same).sum())
    if total <= max_pairs:
        i, j = torch.nonzero(~same, as_tuple=True)
        return i, j
    gen = torch.Generator().manual_seed(seed)
    i_parts, j_parts, have = [], [], 0
    while have < max_pairs:
        i = torch.randint(n, (2 * (max_pairs - have),), generator=gen)
        j = torch.randint(n, (2 * (max_pairs - have),), generator=gen)
        keep = example_index[i] != example_index[j]
        i_parts.append(i[keep])
        j_parts.append(j[keep])
        have += int(keep.sum())
    return torch.cat(i_parts)[:max_pairs], torch.cat(j_parts)[:max_pairs]


def calibrate_tau(negative_costs: torch.Tensor, max_fpr: float) -> TauCalibration:
    """Largest tau such that the share of negatives with cost < tau is at most max_fpr.

    With fewer than 1/max_fpr negatives the requested rate cannot be resolved: tau is then set at the smallest
    negative cost (no false positives among n) and the note gives the rule-of-three 95% upper bound 3/n.
    """
    if not 0 < max_fpr < 1:
        raise ValueError(f"max_fpr must be in (0, 1), got {max_fpr}")
    costs = torch.sort(negative_costs.double().flatten()).values
    n = costs.numel()
    if n == 0:
        return TauCalibration(0.0, max_fpr, 0.0, 0, 0, False, "no negative pairs: tau is 0 and no approximate match is counted")
    allowed = int(math.floor(max_fpr * n + 1e-9))
    tau = float(costs[min(allowed, n - 1)]) if allowed < n else float(costs[-1]) + 1e-12
    false_pos = int((costs < tau).sum())
    resolvable = n * max_fpr >= 1.0
    if resolvable:
        note = f"{false_pos} of {n} negatives fall below tau"
    else:
        note = (
            f"too few negatives to resolve max_fpr={max_fpr:g}: {n} negatives resolve rates down to {1 / n:.2g}; "
            f"tau sits at the smallest negative cost (0 of {n} below), 95% upper bound on the FPR {min(1.0, 3 / n):.2g}"
        )
    return TauCalibration(tau, max_fpr, false_pos / n, false_pos, n, resolvable, note)


def nearest_neighbour_similarity(generated: torch.Tensor, training: torch.Tensor, threshold: float = 0.95) -> dict[str, Any]:
    """SIM_AA (MusicLDM): cosine of each generated embedding to its nearest training embedding; share above threshold."""
    if generated.numel() == 0 or training.numel() == 0:
        return {"threshold": threshold, "n_generated": int(generated.shape[0]), "n_training": int(training.shape[0]),
                "fraction_above": None, "mean_nn_cosine": None, "max_nn_cosine": None}
    g = torch.nn.functional.normalize(generated.double(), dim=1)
    t = torch.nn.functional.normalize(training.double(), dim=1)
    nn = (g @ t.T).max(dim=1).values
    return {
        "threshold": threshold,
        "n_generated": int(g.shape[0]),
        "n_training": int(t.shape[0]),
        "fraction_above": float((nn > threshold).double().mean()),
        "mean_nn_cosine": float(nn.mean()),
        "max_nn_cosine": float(nn.max()),
    }


def memorization_audit(
    groups: Sequence[PromptGroup],
    centroids: torch.Tensor,
    *,
    max_fpr: float = 1e-4,
    settings: SinkhornSettings = SinkhornSettings(),
    max_negatives: int = 20000,
    closest_k: int = 10,
    seed: int = 0,
    trivial_entropy: float = DEFAULT_TRIVIAL_ENTROPY,
) -> AuditResult:
    """Score every continuation (exact match, Sinkhorn cost), calibrate tau on non-trivial negatives, and collect the
    report data; pairs with a trivial target (see trivial_rows, floor trivial_entropy) are counted apart and never match
    approximately.  Near-constant continuations are counted too (trivial_generated), for the report only."""
    groups = [g for g in groups if g.generated.shape[0] > 0]
    distances = centroid_distances(centroids)
    unit = distances[1]
    vocab = int(centroids.shape[0])
    workspace = Workspace()
    per_prompt: list[dict[str, Any]] = []
    candidates: list[dict[str, Any]] = []
    pooled_gen, pooled_tgt, pooled_example = [], [], []
    group_costs = []
    for g in groups:
        exact = exact_matches(g.generated, g.target)
        costs = pair_costs(g.generated, g.target, centroids, settings, distances, workspace=workspace)
        trivial = trivial_rows(g.target, vocab, trivial_entropy)
        flat = trivial_rows(g.generated, vocab, trivial_entropy)
        group_costs.append((g, exact, costs, trivial, flat))
        pooled_gen += list(g.generated)
        pooled_tgt += list(g.target)
        pooled_example.append(g.example_index)
    negatives = torch.zeros(0)
    trivial_negatives = 0
    if pooled_gen:
        example_index = torch.cat(pooled_example)
        i, j = negative_pairs(example_index, max_negatives, seed)
        if i.numel():
            gen_rows = _stack_padded(pooled_gen)
            tgt_rows = _stack_padded(pooled_tgt)
            keep = ~trivial_rows(tgt_rows, vocab, trivial_entropy)[j]
            trivial_negatives = int((~keep).sum())
            i, j = i[keep], j[keep]
            if i.numel():
                negatives = pair_costs(gen_rows[i], tgt_rows[j], centroids, settings, distances, workspace=workspace)
    calibration = replace(calibrate_tau(negatives, max_fpr), trivial_negatives=trivial_negatives)
    notes = []
    zero = int((negatives <= 0).sum())
    if calibration.resolvable and calibration.tau <= 0 and zero:
        notes.append(f"{zero} of {negatives.numel()} non-trivial negative pairs cost 0: more than max_fpr={max_fpr:g} "
                     "allows, so tau is 0 and no approximate match can count; raise audit.trivial_entropy to leave "
                     "more near-constant continuations out of the calibration")
    for g, exact, costs, trivial, flat in group_costs:
        approx = (costs < calibration.tau) & ~trivial
        n = int(exact.numel())
        per_prompt.append({
            "prompt_seconds": g.prompt_seconds,
            "prompt_tokens": g.prompt_tokens,
            "continuation_tokens": int(g.generated.shape[1]),
            "n": n,
            "exact_matches": int(exact.sum()),
            "approximate_matches": int(approx.sum()),
            "exact_rate": float(exact.double().mean()),
            "approximate_rate": float(approx.double().mean()),
            "trivial": int(trivial.sum()),
            "trivial_exact": int((trivial & exact).sum()),
            "trivial_generated": int(flat.sum()),
        })
        for row in range(n):
            candidates.append({
                "example_id": g.example_ids[row],
                "prompt_seconds": g.prompt_seconds,
                "cost": float(costs[row]),
                "exact": bool(exact[row]),
                "approximate": bool(approx[row]),
                "trivial": bool(trivial[row]),
                "_row": (g, row),
            })
    closest = sorted(candidates, key=lambda c: c["cost"])[:closest_k]
    for c in closest:
        g, row = c["_row"]
        c["generated_entropy_bits"] = token_entropy(g.generated[row])
        c["target_entropy_bits"] = token_entropy(g.target[row])
        c["distinct_tokens"] = int(torch.unique(g.generated[row]).numel())
    for c in candidates:
        del c["_row"]
    settings_out = {
        "sinkhorn_epsilon": settings.epsilon,
        "sinkhorn_iters": settings.iters,
        "sinkhorn_omega": settings.omega,
        "sinkhorn_extrapolate": settings.extrapolate,
        "sinkhorn_tol": settings.tol,
        "max_fpr": max_fpr,
        "max_negatives": max_negatives,
        "trivial_entropy": trivial_entropy,
        "trivial_max_distinct": TRIVIAL_MAX_DISTINCT,
        "ground_cost": "euclidean distance between k-means centroids / mean inter-centroid distance",
        "cost_unit": unit,
        "vocab": int(centroids.shape[0]),
        "seed": seed,
    }
    return AuditResult(settings_out, calibration, per_prompt, candidates, [float(x) for x in negatives], closest,
                       notes=notes)


def _stack_padded(rows: list[torch.Tensor]) -> torch.Tensor:
    """Rows of one length stack as is; the audit keeps continuation length fixed, so mixed lengths are an error."""
    lengths = {int(r.shape[0]) for r in rows}
    if len(lengths) != 1:
        raise ValueError(f"continuations must share one length, got {sorted(lengths)}")
    return torch.stack(rows)
