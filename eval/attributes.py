"""Attribute classifier for evaluation: logistic regression on audio embeddings of the run's real training clips.

It predicts instrument family, drums, tempo word and mode (the synthetic corpus's manifest attributes); its label
distributions feed the eval's self-judged KL figure and its predictions the self-judged family accuracy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from data_prep.errors import DataError

ATTRIBUTES = ("family", "drums", "tempo_word", "mode")


def attribute_labels(records: Sequence[dict[str, Any]], names: Sequence[str] = ATTRIBUTES) -> dict[str, list[str]]:
    """Labels per attribute from manifest records' `attributes` (values as strings; missing ones are an error)."""
    out: dict[str, list[str]] = {n: [] for n in names}
    for r in records:
        attrs = r.get("attributes") or {}
        for n in names:
            if n not in attrs or attrs[n] is None:
                raise DataError(f"manifest record {r.get('id', '?')} has no attribute '{n}': the classifier needs it on every clip")
            out[n].append(_label(attrs[n]))
    return out


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return "+".join(sorted(str(v) for v in value))
    return str(value)


@dataclass
class AttributeHead:
    """One attribute's multinomial logistic regression: classes, weights [C,D], bias [C], input standardisation."""

    classes: list[str]
    weight: torch.Tensor
    bias: torch.Tensor

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.classes) == 1:
            return torch.zeros(x.shape[0], 1, dtype=torch.float64)
        return x @ self.weight.T + self.bias


class AttributeClassifier:
    """Per-attribute logistic regression over standardised embedding features."""

    def __init__(self, mean: torch.Tensor, scale: torch.Tensor, heads: dict[str, AttributeHead]) -> None:
        self.mean, self.scale, self.heads = mean.double(), scale.double(), heads

    @classmethod
    def fit(cls, features: torch.Tensor, labels: dict[str, list[str]], c: float = 1.0, max_iter: int = 2000,
            seed: int = 0) -> "AttributeClassifier":
        """Fit one scikit-learn LogisticRegression per attribute on features [N,D]."""
        from sklearn.linear_model import LogisticRegression

        x = features.detach().double().cpu()
        mean, scale = x.mean(0), x.std(0).clamp_min(1e-8)
        z = ((x - mean) / scale).numpy()
        heads = {}
        for name, ys in labels.items():
            if len(ys) != z.shape[0]:
                raise ValueError(f"attribute '{name}' has {len(ys)} labels for {z.shape[0]} clips")
            classes = sorted(set(ys))
            if len(classes) == 1:
                heads[name] = AttributeHead(classes, torch.zeros(1, z.shape[1], dtype=torch.float64), torch.zeros(1, dtype=torch.float64))
                continue
            model = LogisticRegression(C=c, max_iter=max_iter, random_state=seed)
            model.fit(z, np.array(ys))
            weight, bias = torch.from_numpy(model.coef_).double(), torch.from_numpy(model.intercept_).double()
            if len(classes) == 2:
                weight, bias = torch.cat([-weight / 2, weight / 2]), torch.cat([-bias / 2, bias / 2])
            heads[name] = AttributeHead([str(k) for k in model.classes_], weight, bias)
        return cls(mean, scale, heads)

    def predict_proba(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Label distributions per attribute: {name: Float[N,C]}."""
        z = (features.detach().double().cpu() - self.mean) / self.scale
        return {n: h.logits(z).softmax(-1) for n, h in self.heads.items()}

    def predict(self, features: torch.Tensor) -> dict[str, list[str]]:
        """Most likely label per attribute and clip."""
        return {n: [self.heads[n].classes[i] for i in p.argmax(-1).tolist()] for n, p in self.predict_proba(features).items()}
