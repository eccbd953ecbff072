"""How much timbre a codec keeps: a judge fitted on clean clips only, scored on held-out clips clean and after each
codec's round trip. The judge never sees codec audio, so any drop is what the codec removed or added."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .judge import IndependentJudge


def codec_timbre(train: np.ndarray, train_labels: Mapping[str, list[str]], test_clean: np.ndarray,
                 test_codecs: Mapping[str, np.ndarray], test_labels: Mapping[str, list[str]], seed: int = 0) -> dict:
    """{"clean": accuracy per attribute, <codec name>: accuracy per attribute, ...} of one clean-trained judge."""
    judge = IndependentJudge.fit(train, dict(train_labels), seed=seed)
    out = {"clean": judge.accuracy(test_clean, dict(test_labels))}
    out.update({name: judge.accuracy(features, dict(test_labels)) for name, features in test_codecs.items()})
    return out
