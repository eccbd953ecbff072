"""How much of a clip's semantic token sequence sits in the clusters that mark a label (drums, say).

Clusters are picked from reference clips: those whose frequency among clips with the label is at least ENRICHMENT times
their frequency among clips without it. The share of a clip's frames in those clusters then says whether its semantic
tokens carry the label at all, and how densely, independently of how the later stages render it.
"""
from __future__ import annotations

import numpy as np

ENRICHMENT = 4.0
# A clip "has none" of the label's clusters below this share: about the 75th percentile of clips without drums in the
# synthetic corpus (cluster picks are never perfectly clean), while no clip with drums falls below it.
NONE_BELOW = 0.05


def enriched_clusters(tokens: np.ndarray, positive: np.ndarray, vocab: int, ratio: float = ENRICHMENT) -> np.ndarray:
    """Ids of the clusters at least `ratio` times as frequent in the positive rows of tokens [N, F] as in the others
    (add-one smoothed); empty unless both groups have rows."""
    tokens, positive = np.asarray(tokens), np.asarray(positive, dtype=bool)
    if not positive.any() or positive.all():
        return np.zeros(0, dtype=np.int64)
    pos = np.bincount(tokens[positive].ravel(), minlength=vocab) + 1.0
    neg = np.bincount(tokens[~positive].ravel(), minlength=vocab) + 1.0
    return np.flatnonzero(pos / pos.sum() >= ratio * neg / neg.sum())


def cluster_share(tokens: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Per row of tokens [N, F]: the share of its frames whose token is one of `clusters`."""
    return np.isin(np.asarray(tokens), clusters).mean(axis=1)


def share_summary(shares: np.ndarray) -> dict[str, float]:
    """Median share and the share of clips with (almost) none of the clusters."""
    shares = np.asarray(shares, dtype=np.float64)
    return {"median": float(np.median(shares)), "none": float(np.mean(shares < NONE_BELOW))}
