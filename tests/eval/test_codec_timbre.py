"""codec_timbre: one clean-trained judge, scored on clean and round-tripped features of the same held-out clips."""
import numpy as np

from eval.codec_timbre import codec_timbre


def test_a_codec_that_smears_the_features_loses_accuracy_and_an_identity_codec_does_not():
    rng = np.random.default_rng(0)
    labels = ["a", "b"] * 40
    centres = {"a": np.zeros(6), "b": np.full(6, 3.0)}
    train = np.stack([centres[y] + rng.normal(size=6) for y in labels])
    test_labels = ["a", "b"] * 20
    test = np.stack([centres[y] + rng.normal(size=6) for y in test_labels])
    smeared = np.full_like(test, 1.5) + rng.normal(size=test.shape)
    out = codec_timbre(train, {"family": labels}, test, {"identity": test, "smeared": smeared}, {"family": test_labels})
    assert out["clean"]["family"] >= 0.9
    assert out["identity"] == out["clean"]
    assert out["smeared"]["family"] < 0.75
