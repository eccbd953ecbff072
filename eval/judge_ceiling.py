"""The judge's ceiling from hundreds of real clips instead of the eval's few prompts.

The judge is refitted K times, each time without one K-th of its training pool's source pieces, and reads the left-out
clips after the codec round trip: real music it has never heard, through the codec the generations go through. The
per-class recall this gives is weighted by the eval prompts' own label mix, so the ceiling is the accuracy expected on
real clips with the prompts' labels. On 16 prompt clips one wrong clip moves a ceiling by 0.06, and a tempo
ceiling of 0.5 there can hide a judge that reads tempo well.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .judge import IndependentJudge

CEILING_FOLDS = 5


def cross_validated_recall(clean: np.ndarray, codec: np.ndarray, labels: dict[str, list[str]], groups: Sequence[str],
                           folds: int = CEILING_FOLDS, seed: int = 0) -> dict[str, dict[str, float]]:
    """Per attribute and class: share of codec round-trip clips judged right by a judge fitted without their group.

    clean and codec are [N, D] features of the same clips (row for row); groups[i] names clip i's source piece, so
    no piece is both fitted and judged. Folds are whole groups dealt out in a seeded order.
    """
    clean, codec = np.asarray(clean, dtype=np.float64), np.asarray(codec, dtype=np.float64)
    groups = np.asarray([str(g) for g in groups])
    if not len(clean) == len(codec) == len(groups):
        raise ValueError(f"clean {len(clean)}, codec {len(codec)} and groups {len(groups)} must have one row per clip")
    names = np.unique(groups)
    folds = min(folds, len(names))
    if folds < 2:
        raise ValueError("the cross-validated ceiling needs clips from at least two source pieces")
    fold_of = dict(zip(np.random.default_rng(seed).permutation(names), np.arange(len(names)) % folds))
    fold = np.array([fold_of[g] for g in groups])
    hits: dict[str, dict[str, list[bool]]] = {a: {} for a in labels}
    for k in range(folds):
        fit, held = fold != k, fold == k
        judge = IndependentJudge.fit(clean[fit], {a: [v for v, m in zip(ys, fit) if m] for a, ys in labels.items()},
                                     codec=codec[fit], seed=seed)
        pred = judge.predict(codec[held])
        for a, ys in labels.items():
            for want, got in zip([v for v, m in zip(ys, held) if m], pred[a]):
                hits[a].setdefault(str(want), []).append(str(want) == got)
    return {a: {c: float(np.mean(h)) for c, h in by_class.items()} for a, by_class in hits.items()}


def expected_accuracy(recall: dict[str, dict[str, float]], wanted: dict[str, list[str]]) -> dict[str, float]:
    """Accuracy expected on clips labelled `wanted`: each class's recall weighted by its share (an unseen class counts 0)."""
    out = {}
    for a, ys in wanted.items():
        if a in recall and ys:
            out[a] = float(np.mean([recall[a].get(str(y), 0.0) for y in ys]))
    return out
