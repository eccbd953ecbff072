"""The independent judge on a small rendered corpus: held-out family/drums above chance, codec-aware training, features."""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from data_prep.errors import DataError
from data_prep.manifest import read_manifest
from data_prep.synth.config import SynthConfig
from data_prep.synth.corpus import build_corpus
from eval.judge import (JUDGE_ATTRIBUTES, SLOW_BELOW_BPM, IndependentJudge, judge_labels,
                        judge_round_trip_features)
from eval.judge_features import batch_features, clip_features, harmonic_ratio, loudness_db, spectral_flatness

RATE = 16000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """96 rendered 3 s clips, split into train/held-out by source piece, with their features."""
    out = tmp_path_factory.mktemp("corpus")
    cfg = SynthConfig(num_clips=96, seconds=3.0, sample_rate=RATE, seed=5, workers=1, windows_per_piece=4,
                      cache_dir=str(tmp_path_factory.mktemp("notes")))
    build_corpus(cfg, out)
    records = read_manifest(out / "manifest.jsonl")
    wavs = torch.stack([torch.from_numpy(sf.read(Path(r["path"]), dtype="float32")[0]) for r in records])
    pieces = sorted({r["attributes"]["source_piece"] for r in records})
    held_pieces = set(pieces[1::3])
    held = np.array([r["attributes"]["source_piece"] in held_pieces for r in records])
    return {"records": records, "wavs": wavs, "features": batch_features(wavs, RATE), "held": held}


def _split(corpus: dict, x: np.ndarray) -> tuple:
    labels = judge_labels(corpus["records"])
    held = corpus["held"]
    pick = lambda mask: {k: [v for v, m in zip(vs, mask) if m] for k, vs in labels.items()}  # noqa: E731
    return x[~held], pick(~held), x[held], pick(held)


def _chance(labels: list[str]) -> float:
    return Counter(labels).most_common(1)[0][1] / len(labels)


def test_judge_separates_family_and_drums_on_held_out_pieces(corpus: dict) -> None:
    x_train, y_train, x_test, y_test = _split(corpus, corpus["features"])
    judge = IndependentJudge.fit(x_train, y_train, seed=0)
    acc = judge.accuracy(x_test, y_test)
    assert set(judge.classes) == set(JUDGE_ATTRIBUTES)
    assert acc["family"] >= max(0.4, _chance(y_test["family"]) + 0.15), acc
    assert acc["drums"] >= 0.85 and acc["drums"] > _chance(y_test["drums"]), acc
    probs = judge.predict_proba(x_test)
    assert probs["family"].shape == (len(x_test), len(judge.classes["family"]))
    np.testing.assert_allclose(probs["drums"].sum(1), 1.0)
    pred = judge.predict(x_test)
    assert all(p in judge.classes["family"] for p in pred["family"])


def test_codec_round_trip_training_classifies_round_tripped_clips(corpus: dict) -> None:
    import torchaudio

    held = corpus["held"]
    low_pass = lambda w: torchaudio.functional.lowpass_biquad(w, RATE, 2500.0)  # noqa: E731
    rt = judge_round_trip_features(corpus["wavs"], RATE, low_pass, batch=32)
    assert rt.shape == corpus["features"].shape and np.isfinite(rt).all()
    x_train, y_train, _, y_test = _split(corpus, corpus["features"])
    judge = IndependentJudge.fit(x_train, y_train, codec=rt[~held], seed=0)
    acc = judge.accuracy(rt[held], y_test)
    assert acc["family"] >= max(0.35, _chance(y_test["family"]) + 0.12), acc
    assert acc["drums"] >= 0.85, acc
    with pytest.raises(ValueError):
        IndependentJudge.fit(x_train, y_train, codec=rt[held])


def test_untrained_codec_round_trip_path_runs(corpus: dict) -> None:
    from data_prep.codec import CodecConfig, CodecTokenizer
    from torchaudio.functional import resample

    codec = CodecTokenizer.from_config(CodecConfig(n_filters=2, dimension=16, bins=64, lstm=1, bandwidth=1.8,
                                                   max_bandwidth=1.8, n_coarse=2))

    def round_trip(w: torch.Tensor) -> torch.Tensor:
        back = codec.decode(codec.encode(resample(w, RATE, codec.sample_rate)))
        return resample(back, codec.sample_rate, RATE)

    wavs = corpus["wavs"][:6]
    rt = judge_round_trip_features(wavs, RATE, round_trip, batch=4)
    assert rt.shape == (6, corpus["features"].shape[1]) and np.isfinite(rt).all()
    judge = IndependentJudge.fit(corpus["features"], judge_labels(corpus["records"]))
    assert len(judge.predict(rt)["drums"]) == 6


def test_labels_follow_the_documented_rules() -> None:
    records = [{"id": "a", "attributes": {"family": "brass", "drums": True, "bpm": SLOW_BELOW_BPM - 1, "mode": "dorian"}},
               {"id": "b", "attributes": {"family": "synth", "drums": False, "bpm": SLOW_BELOW_BPM, "mode": "mixolydian"}}]
    assert judge_labels(records) == {"family": ["brass", "synth"], "drums": ["yes", "no"], "tempo": ["slow", "fast"],
                                     "mode": ["minor", "major"]}
    with pytest.raises(DataError, match="record c .*'bpm'"):
        judge_labels([{"id": "c", "attributes": {"family": "brass", "drums": True, "mode": "major"}}])


def test_one_class_attribute_predicts_that_class() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 5))
    labels = {"family": ["a", "b"] * 10, "mode": ["major"] * 20}
    judge = IndependentJudge.fit(x, labels)
    assert judge.predict(x[:3])["mode"] == ["major"] * 3 and judge.predict_proba(x[:3])["mode"].shape == (3, 1)


def test_features_are_finite_for_silence_and_rate_independent_in_length() -> None:
    for wav in (torch.zeros(3 * RATE), torch.zeros(10), torch.full((RATE,), 1e-9)):
        f = clip_features(wav, RATE)
        assert np.isfinite(f).all()
    sine = 0.3 * torch.sin(2 * math.pi * 440.0 * torch.arange(2 * 24000) / 24000)
    assert clip_features(sine, 24000).shape == clip_features(torch.zeros(RATE), RATE).shape
    assert batch_features(torch.zeros(2, RATE), RATE).shape[0] == 2


def test_noise_cues_separate_white_noise_from_a_sine() -> None:
    gen = torch.Generator().manual_seed(0)
    noise = 0.1 * torch.randn(2 * RATE, generator=gen)
    sine = 0.1 * torch.sin(2 * math.pi * 330.0 * torch.arange(2 * RATE) / RATE)
    assert spectral_flatness(noise, RATE) > 0.3 > 100 * spectral_flatness(sine, RATE)
    assert harmonic_ratio(sine, RATE) > 0.95 > harmonic_ratio(noise, RATE) + 0.3
    assert abs(loudness_db(sine, RATE) - 20 * math.log10(0.1 / math.sqrt(2))) < 0.5
    assert loudness_db(torch.zeros(RATE), RATE) == -120.0
