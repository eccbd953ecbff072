"""The cross-validated ceiling: refit without whole source pieces, judge their codec rows, weight by the prompts' mix."""
import numpy as np
import pytest

from eval.judge_ceiling import cross_validated_recall, expected_accuracy


def _pool(rng: np.random.Generator, pieces: int = 20, per_piece: int = 6):
    """Clips whose first feature carries 'tempo' (with noise) and whose other features are noise; one label per piece."""
    groups = np.repeat([f"piece-{i}" for i in range(pieces)], per_piece)
    tempo = np.repeat(np.where(np.arange(pieces) % 2 == 0, "slow", "fast"), per_piece)
    noise_label = rng.choice(["major", "minor"], size=len(groups))
    clean = rng.normal(size=(len(groups), 6))
    clean[:, 0] += np.where(tempo == "fast", 3.0, -3.0)
    codec = clean + 0.1 * rng.normal(size=clean.shape)
    return clean, codec, {"tempo": list(tempo), "mode": list(noise_label)}, list(groups)


def test_a_readable_attribute_gets_a_high_ceiling_and_noise_labels_sit_near_chance():
    clean, codec, labels, groups = _pool(np.random.default_rng(0))
    recall = cross_validated_recall(clean, codec, labels, groups)
    assert set(recall["tempo"]) == {"slow", "fast"} and min(recall["tempo"].values()) > 0.9
    assert 0.2 < np.mean(list(recall["mode"].values())) < 0.8


def test_no_piece_is_both_fitted_and_judged():
    rng = np.random.default_rng(1)
    # Each piece has its own random label and a feature that names the piece: a judge that saw the piece would read
    # its label off that feature, one that never saw it can only guess.
    pieces, per_piece = 24, 5
    groups = np.repeat(np.arange(pieces), per_piece)
    piece_label = rng.choice(["a", "b"], size=pieces)
    clean = np.stack([groups.astype(float), rng.normal(size=len(groups))], 1)
    recall = cross_validated_recall(clean, clean.copy(), {"x": list(piece_label[groups])}, [str(g) for g in groups])
    assert np.mean(list(recall["x"].values())) < 0.6  # about 0.75 when clips of one piece are split across folds


def test_expected_accuracy_weights_recall_by_the_prompts_label_mix():
    recall = {"tempo": {"slow": 1.0, "fast": 0.5}, "family": {"brass": 0.8}}
    got = expected_accuracy(recall, {"tempo": ["slow", "fast", "fast", "fast"], "family": ["brass", "organ"]})
    assert got == {"tempo": pytest.approx(0.625), "family": pytest.approx(0.4)}


def test_rows_must_match_and_two_pieces_are_needed():
    clean = np.zeros((4, 2))
    with pytest.raises(ValueError, match="one row per clip"):
        cross_validated_recall(clean, clean[:3], {"x": ["a", "b", "a", "b"]}, ["p", "p", "q", "q"])
    with pytest.raises(ValueError, match="two source pieces"):
        cross_validated_recall(clean, clean, {"x": ["a", "b", "a", "b"]}, ["p"] * 4)
