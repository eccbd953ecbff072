"""Memorization-audit maths: exact and approximate matches of greedy continuations with their true continuations.

The audit runs in three steps.  score_continuations: exact matches, and Sinkhorn costs between token histograms
(eval.histogram_costs) for every continuation against its own target and for negative pairs (a continuation against
another example's target).  calibrate: the approximate-match threshold tau, set on the negatives for a requested
false-positive rate.  report_rows: per-prompt match rates, every candidate's cost and the closest matches.
memorization_audit runs all three.

Pairs whose target is near-constant (at most two distinct tokens, or a normalised token entropy under a floor:
silence, a held note) are trivial: they are counted on their own and left out of both the calibration and the
approximate matches, since any two silences match.  A near-constant continuation of a varied target stays in: its
cost is high, so it needs no exception.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Sequence

import torch

from .histogram_costs import centroid_distances, padded_histograms, pair_costs
from .sinkhorn import SinkhornSettings, Workspace

# A continuation of at most this many distinct tokens is trivial whatever its entropy.
TRIVIAL_MAX_DISTINCT = 2
DEFAULT_TRIVIAL_ENTROPY = 0.2
GROUND_COST = "euclidean distance between k-means centroids / mean inter-centroid distance"


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


@dataclass
class ScoredGroup:
    """One prompt length's continuations, scored: exact matches, costs against their targets, and which targets
    (trivial) and which continuations (flat) are near-constant; all Bool[N] or Float[N]."""

    group: PromptGroup
    exact: torch.Tensor
    costs: torch.Tensor
    trivial: torch.Tensor
    flat: torch.Tensor


@dataclass
class AuditScores:
    """Step 1's output: every group scored, and the costs of the non-trivial negative pairs (the null)."""

    groups: list[ScoredGroup]
    negative_costs: torch.Tensor
    trivial_negatives: int
    cost_unit: float


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


def score_continuations(
    groups: Sequence[PromptGroup],
    centroids: torch.Tensor,
    *,
    settings: SinkhornSettings = SinkhornSettings(),
    max_negatives: int = 20000,
    seed: int = 0,
    trivial_entropy: float = DEFAULT_TRIVIAL_ENTROPY,
) -> AuditScores:
    """Step 1: exact matches and Sinkhorn costs of every continuation against its target, and the costs of up to
    max_negatives negative pairs whose target is not trivial (empty groups are dropped)."""
    groups = [g for g in groups if g.generated.shape[0] > 0]
    distances = centroid_distances(centroids)
    vocab = int(centroids.shape[0])
    workspace = Workspace()
    scored = [
        ScoredGroup(
            group=g,
            exact=exact_matches(g.generated, g.target),
            costs=pair_costs(g.generated, g.target, centroids, settings, distances, workspace=workspace),
            trivial=trivial_rows(g.target, vocab, trivial_entropy),
            flat=trivial_rows(g.generated, vocab, trivial_entropy),
        )
        for g in groups
    ]
    negatives = torch.zeros(0)
    trivial_negatives = 0
    if groups:
        i, j = negative_pairs(torch.cat([g.example_index for g in groups]), max_negatives, seed)
        if i.numel():
            gen_rows = _stack_rows([g.generated for g in groups])
            tgt_rows = _stack_rows([g.target for g in groups])
            keep = ~trivial_rows(tgt_rows, vocab, trivial_entropy)[j]
            trivial_negatives = int((~keep).sum())
            i, j = i[keep], j[keep]
            if i.numel():
                negatives = pair_costs(gen_rows[i], tgt_rows[j], centroids, settings, distances, workspace=workspace)
    return AuditScores(scored, negatives, trivial_negatives, distances[1])


def calibrate(scores: AuditScores, max_fpr: float) -> tuple[TauCalibration, list[str]]:
    """Step 2: tau from the non-trivial negatives (calibrate_tau), and a note when zero-cost negatives hold it at 0."""
    negatives = scores.negative_costs
    calibration = replace(calibrate_tau(negatives, max_fpr), trivial_negatives=scores.trivial_negatives)
    notes = []
    zero = int((negatives <= 0).sum())
    if calibration.resolvable and calibration.tau <= 0 and zero:
        notes.append(f"{zero} of {negatives.numel()} non-trivial negative pairs cost 0: more than max_fpr={max_fpr:g} "
                     "allows, so tau is 0 and no approximate match can count; raise audit.trivial_entropy to leave "
                     "more near-constant continuations out of the calibration")
    return calibration, notes


def report_rows(
    scores: AuditScores, tau: float, closest_k: int = 10
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Step 3: (per-prompt match counts and rates, every candidate's cost and flags, the closest_k cheapest candidates
    with their token entropies); a pair with a trivial target never matches approximately."""
    per_prompt: list[dict[str, Any]] = []
    candidates: list[dict[str, Any]] = []
    rows: list[tuple[PromptGroup, int]] = []
    for s in scores.groups:
        g = s.group
        approx = (s.costs < tau) & ~s.trivial
        n = int(s.exact.numel())
        per_prompt.append({
            "prompt_seconds": g.prompt_seconds,
            "prompt_tokens": g.prompt_tokens,
            "continuation_tokens": int(g.generated.shape[1]),
            "n": n,
            "exact_matches": int(s.exact.sum()),
            "approximate_matches": int(approx.sum()),
            "exact_rate": float(s.exact.double().mean()),
            "approximate_rate": float(approx.double().mean()),
            "trivial": int(s.trivial.sum()),
            "trivial_exact": int((s.trivial & s.exact).sum()),
            "trivial_generated": int(s.flat.sum()),
        })
        for row in range(n):
            candidates.append({
                "example_id": g.example_ids[row],
                "prompt_seconds": g.prompt_seconds,
                "cost": float(s.costs[row]),
                "exact": bool(s.exact[row]),
                "approximate": bool(approx[row]),
                "trivial": bool(s.trivial[row]),
            })
            rows.append((g, row))
    order = sorted(range(len(candidates)), key=lambda k: candidates[k]["cost"])[:closest_k]
    closest = []
    for k in order:
        g, row = rows[k]
        closest.append({
            **candidates[k],
            "generated_entropy_bits": token_entropy(g.generated[row]),
            "target_entropy_bits": token_entropy(g.target[row]),
            "distinct_tokens": int(torch.unique(g.generated[row]).numel()),
        })
    return per_prompt, candidates, closest


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
    """score_continuations, calibrate and report_rows in turn, with the settings that produced them."""
    scores = score_continuations(groups, centroids, settings=settings, max_negatives=max_negatives, seed=seed,
                                 trivial_entropy=trivial_entropy)
    calibration, notes = calibrate(scores, max_fpr)
    per_prompt, candidates, closest = report_rows(scores, calibration.tau, closest_k)
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
        "ground_cost": GROUND_COST,
        "cost_unit": scores.cost_unit,
        "vocab": int(centroids.shape[0]),
        "seed": seed,
    }
    return AuditResult(settings_out, calibration, per_prompt, candidates,
                       [float(x) for x in scores.negative_costs], closest, notes=notes)


def _stack_rows(parts: list[torch.Tensor]) -> torch.Tensor:
    """Continuations of every group as one [N,T] tensor; the audit keeps continuation length fixed, so mixed lengths
    are an error."""
    lengths = {int(p.shape[1]) for p in parts}
    if len(lengths) != 1:
        raise ValueError(f"continuations must share one length, got {sorted(lengths)}")
    return torch.cat(parts)
