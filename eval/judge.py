"""The independent judge: one scikit-learn classifier per attribute over eval.judge_features vectors.

It is refit from the run's real clips at every evaluation and never saved, so nothing is ever unpickled. Given the
codec round trip of the same clips, it trains on both versions with the same labels, so codec artefacts are not
taken for a property of the music.

A random forest per attribute: it needs no feature scaling, fits a few hundred rows in seconds on one core, and
in cross-validation grouped by source piece it classified family better than a scaled logistic regression.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from data_prep.errors import DataError

from .judge_features import batch_features

JUDGE_ATTRIBUTES = ("family", "drums", "tempo", "mode")
# Two tempo classes split at 100 BPM: the caption tempo words change at 95 (moderate -> lively) and 120
# (lively -> fast), so "slow" holds every slow and moderate clip and "fast" every fast and very fast one; only the
# lively band is divided. Two coarse classes keep the judge's question answerable from onset statistics.
SLOW_BELOW_BPM = 100
# Church modes go to the major/minor class with the same third: a major third (lydian, mixolydian) sounds major,
# a minor third (dorian, phrygian, locrian) sounds minor.
MODE_CLASS = {"major": "major", "ionian": "major", "lydian": "major", "mixolydian": "major",
              "minor": "minor", "aeolian": "minor", "dorian": "minor", "phrygian": "minor", "locrian": "minor"}
FOREST_TREES = 200


def attribute_values(attrs: dict[str, Any], record_id: str = "?") -> dict[str, str]:
    """The judge's four labels for one clip's manifest attributes (DataError names a missing or unknown one)."""
    out: dict[str, str] = {}
    for name, key in (("family", "family"), ("drums", "drums"), ("tempo", "bpm"), ("mode", "mode")):
        if attrs.get(key) is None:
            raise DataError(f"manifest record {record_id} has no attribute '{key}': the judge needs it on every clip")
    out["family"] = str(attrs["family"])
    drums = attrs["drums"]
    out["drums"] = ("yes" if drums else "no") if isinstance(drums, bool) else str(drums)
    out["tempo"] = "slow" if float(attrs["bpm"]) < SLOW_BELOW_BPM else "fast"
    mode = str(attrs["mode"]).lower()
    if mode not in MODE_CLASS:
        raise DataError(f"manifest record {record_id} has mode '{attrs['mode']}': the judge knows {', '.join(MODE_CLASS)}")
    out["mode"] = MODE_CLASS[mode]
    return out


def judge_labels(records: Sequence[dict]) -> dict[str, list[str]]:
    """Labels per judge attribute (family, drums yes/no, tempo slow/fast, mode major/minor) from manifest records."""
    out: dict[str, list[str]] = {name: [] for name in JUDGE_ATTRIBUTES}
    for record in records:
        values = attribute_values(record.get("attributes") or {}, str(record.get("id", "?")))
        for name in JUDGE_ATTRIBUTES:
            out[name].append(values[name])
    return out


def _classifier(seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    # Balanced class weights: the corpus is mostly slow and major while the eval's prompts are balanced, and an
    # unweighted forest leans towards the majority class.
    return RandomForestClassifier(n_estimators=FOREST_TREES, random_state=seed, n_jobs=1, class_weight="balanced")


class IndependentJudge:
    """Per-attribute classifiers over hand-made audio features; a one-class attribute always predicts its class."""

    def __init__(self, models: dict[str, Any], classes: dict[str, list[str]]) -> None:
        self.models = models
        self.classes = classes

    @classmethod
    def fit(cls, clean: np.ndarray, labels: dict[str, list[str]], codec: np.ndarray | None = None,
            seed: int = 0) -> "IndependentJudge":
        """Fit one random forest per attribute on clean [N, D] features (plus codec [N, D], same clips and order)."""
        x = np.asarray(clean, dtype=np.float64)
        repeats = 1
        if codec is not None:
            codec = np.asarray(codec, dtype=np.float64)
            if codec.shape != x.shape:
                raise ValueError(f"codec features {codec.shape} must match the clean features {x.shape} row for row")
            x, repeats = np.concatenate([x, codec]), 2
        models: dict[str, Any] = {}
        classes: dict[str, list[str]] = {}
        for name, ys in labels.items():
            if len(ys) != len(clean):
                raise ValueError(f"attribute '{name}' has {len(ys)} labels for {len(clean)} clips")
            y = np.array([str(v) for v in ys] * repeats)
            classes[name] = sorted(set(y.tolist()))
            if len(classes[name]) > 1:
                models[name] = _classifier(seed).fit(x, y)
                classes[name] = [str(c) for c in models[name].classes_]
        return cls(models, classes)

    def predict_proba(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Class probabilities per attribute: {name: [N, C]} with columns in `classes[name]` order."""
        x = np.asarray(features, dtype=np.float64)
        return {name: self.models[name].predict_proba(x) if name in self.models else np.ones((len(x), 1))
                for name in self.classes}

    def predict(self, features: np.ndarray) -> dict[str, list[str]]:
        """Most likely label per attribute and clip."""
        return {name: [self.classes[name][i] for i in p.argmax(1)] for name, p in self.predict_proba(features).items()}

    def accuracy(self, features: np.ndarray, labels: dict[str, list[str]]) -> dict[str, float]:
        """Share of clips whose judged label equals the given one, per attribute the judge knows."""
        pred = self.predict(features)
        return {name: float(np.mean([a == str(b) for a, b in zip(pred[name], labels[name])]))
                for name in labels if name in pred}


def judge_round_trip_features(wavs: torch.Tensor, sample_rate: int, round_trip: Callable[[torch.Tensor], torch.Tensor],
                              batch: int = 16) -> np.ndarray:
    """batch_features of round_trip(wavs) run `batch` clips at a time; outputs are cut or zero-padded to the input length.

    round_trip maps [B, T] audio at `sample_rate` to [B, T'] audio at the same rate (e.g. codec encode -> decode).
    """
    wavs = torch.as_tensor(wavs)
    if wavs.dim() == 1:
        wavs = wavs[None]
    if batch < 1:
        raise ValueError("batch must be at least 1")
    length = wavs.shape[-1]
    out = []
    for start in range(0, len(wavs), batch):
        with torch.inference_mode():
            back = torch.as_tensor(round_trip(wavs[start:start + batch])).detach().float().cpu()
        back = back.reshape(back.shape[0], -1)[:, :length]
        back = torch.nn.functional.pad(back, (0, length - back.shape[-1]))
        out.append(batch_features(back, sample_rate))
    return np.concatenate(out) if out else batch_features(wavs, sample_rate)
