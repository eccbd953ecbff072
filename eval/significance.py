"""Is a model following its prompts? A prompt-level permutation test and the generated-vs-shuffled-vs-ceiling position."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


MIN_SPAN = 0.05


def position(generated: float, shuffled: float, ceiling: float) -> float | None:
    """Where `generated` lies between the shuffled baseline (0) and the ceiling (1).

    None when the ceiling is less than MIN_SPAN above the baseline: a judge that cannot beat shuffled labels on real
    audio cannot place a generation between them, and a tiny or negative span would blow the ratio up.
    """
    if ceiling - shuffled < MIN_SPAN:
        return None
    return (generated - shuffled) / (ceiling - shuffled)


@dataclass
class AdherenceTest:
    """Mean agreement of judged and asked labels, its mean under shuffled prompts, and the one-sided p-value."""

    observed: float
    shuffled: float
    p_value: float
    prompts: int
    seeds: int


def _hits(pred: Sequence[Sequence[str]], labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per prompt i and label class k: how many of prompt i's clips were judged class k; and each label's class."""
    if len(pred) != len(labels):
        raise ValueError(f"{len(pred)} prompts of predictions for {len(labels)} labels")
    seeds = {len(p) for p in pred}
    if len(seeds) > 1 or 0 in seeds:
        raise ValueError("every prompt needs the same, non-zero number of judged clips")
    classes = sorted({str(v) for v in labels} | {str(v) for p in pred for v in p})
    index = {c: k for k, c in enumerate(classes)}
    counts = np.zeros((len(pred), len(classes)))
    for i, p in enumerate(pred):
        for v in p:
            counts[i, index[str(v)]] += 1
    return counts, np.array([index[str(v)] for v in labels])


def adherence_test(pred: Sequence[Sequence[str]], labels: Sequence[str], permutations: int = 2000,
                   seed: int = 0) -> AdherenceTest:
    """Permutation test with the prompt as the unit: labels are shuffled across prompts, a prompt's seeds move together.

    pred[i][s] is the judged label of prompt i's clip with seed s; labels[i] is what prompt i asked for.
    """
    counts, label_idx = _hits(pred, labels)
    n, seeds = len(labels), int(counts[0].sum()) if len(labels) else 0
    if n == 0:
        raise ValueError("adherence_test needs at least one prompt")
    observed = float(counts[np.arange(n), label_idx].sum() / (n * seeds))
    rng = np.random.default_rng(seed)
    perms = np.stack([rng.permutation(n) for _ in range(permutations)]) if permutations else np.zeros((0, n), int)
    agreement = counts[np.arange(n)[None, :], label_idx[perms]].sum(1) / (n * seeds)
    shuffled = float(agreement.mean()) if permutations else float("nan")
    p_value = (1.0 + float((agreement >= observed - 1e-12).sum())) / (1.0 + permutations)
    return AdherenceTest(observed=observed, shuffled=shuffled, p_value=p_value, prompts=n, seeds=seeds)


def position_interval(pred: Sequence[Sequence[str]], labels: Sequence[str], ceiling: float, resamples: int = 2000,
                      level: float = 0.9, seed: int = 0) -> tuple[float, float] | None:
    """Bootstrap interval of `position` over prompts: prompts are resampled with replacement, a prompt's seeds together.

    Each resample recomputes the agreement and its exact shuffled-prompt expectation (a prompt's clips judged against
    the resampled prompts' label mix), the ceiling stays fixed. Resamples whose baseline leaves no span below the
    ceiling have no position and are left out; None when they are more than one tail's share of the resamples.
    """
    n = len(labels)
    if n == 0 or not 0.0 < level < 1.0 or resamples < 1:
        raise ValueError("position_interval needs prompts, 0 < level < 1 and resamples >= 1")
    counts, label_idx = _hits(pred, labels)
    seeds = counts[0].sum()
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(resamples, n))
    hits = counts[np.arange(n), label_idx]
    observed = hits[picks].sum(1) / (n * seeds)
    mix = np.stack([np.bincount(label_idx[row], minlength=counts.shape[1]) for row in picks]) / n
    shuffled = np.einsum("rik,rk->r", counts[picks], mix) / (n * seeds)
    tail = (1.0 - level) / 2.0
    defined = ceiling - shuffled >= MIN_SPAN
    if defined.mean() < 1.0 - tail:
        return None
    values = (observed - shuffled)[defined] / (ceiling - shuffled)[defined]
    return float(np.quantile(values, tail)), float(np.quantile(values, 1.0 - tail))


def share(pred: Sequence[Sequence[str]], value: str) -> float:
    """Share of all judged clips whose label is `value` (NaN when there are none)."""
    flat = [str(v) for p in pred for v in p]
    return float(np.mean([v == str(value) for v in flat])) if flat else float("nan")
