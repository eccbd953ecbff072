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


def test_a_codec_trained_judge_reads_through_a_shift_but_not_through_lost_information():
    rng = np.random.default_rng(1)
    labels = ["a", "b"] * 40
    test_labels = ["a", "b"] * 20
    centres = {"a": np.zeros(6), "b": np.full(6, 3.0)}
    train = np.stack([centres[y] + rng.normal(size=6) for y in labels])
    test = np.stack([centres[y] + rng.normal(size=6) for y in test_labels])
    # "shifted" moves every clip the same way (class b lands where a was); "erased" keeps nothing of the class.
    shift = np.full(6, -3.0)
    erased_train, erased_test = rng.normal(size=train.shape), rng.normal(size=test.shape)
    out = codec_timbre(train, {"family": labels}, test, {"shifted": test + shift, "erased": erased_test},
                       {"family": test_labels}, train_codecs={"shifted": train + shift, "erased": erased_train})
    assert out["shifted"]["family"] <= 0.6
    assert out["shifted, codec-trained judge"]["family"] >= 0.9
    assert out["erased, codec-trained judge"]["family"] <= 0.75
    assert set(out) == {"clean", "shifted", "erased", "shifted, codec-trained judge", "erased, codec-trained judge"}
