"""Prompt-level permutation test: a follower is significant, a prompt-ignoring model is not; position arithmetic and
its bootstrap interval over prompts."""
from __future__ import annotations

import numpy as np
import pytest

from eval.significance import AdherenceTest, adherence_test, position, position_interval, share

FAMILIES = ["brass", "keyboard", "strings", "synth"]


def _labels(prompts: int = 12) -> list[str]:
    return [FAMILIES[i % len(FAMILIES)] for i in range(prompts)]


def test_a_perfect_follower_is_significant() -> None:
    labels = _labels()
    pred = [[lab] * 3 for lab in labels]
    result = adherence_test(pred, labels, permutations=2000, seed=0)
    assert isinstance(result, AdherenceTest) and (result.prompts, result.seeds) == (12, 3)
    assert result.observed == 1.0 and result.p_value < 0.01
    assert result.shuffled == pytest.approx(0.25, abs=0.03)


def test_a_model_that_ignores_the_prompt_is_not() -> None:
    labels = _labels()
    rng = np.random.default_rng(1)
    pred = [[str(rng.choice(FAMILIES)) for _ in range(3)] for _ in labels]
    result = adherence_test(pred, labels, permutations=2000, seed=0)
    assert result.p_value > 0.1
    constant = adherence_test([["brass"] * 3 for _ in labels], labels)
    assert constant.p_value > 0.1 and constant.observed == pytest.approx(constant.shuffled)


def test_deterministic_for_a_seed_and_seeds_move_with_their_prompt() -> None:
    labels = _labels()
    rng = np.random.default_rng(2)
    pred = [[lab if rng.random() < 0.6 else "synth" for _ in range(3)] for lab in labels]
    a, b = adherence_test(pred, labels, seed=7), adherence_test(pred, labels, seed=7)
    assert a == b
    assert adherence_test(pred, labels, seed=8).observed == a.observed
    with pytest.raises(ValueError):
        adherence_test([["a"], ["a", "b"]], ["a", "b"])


def test_position_and_share() -> None:
    assert position(0.5, 0.25, 0.75) == pytest.approx(0.5)
    assert position(0.2, 0.25, 0.75) == pytest.approx(-0.1)
    assert position(0.9, 0.5, 0.5) is None
    assert position(0.54, 0.56, 0.5) is None and position(0.5, 0.49999, 0.5) is None
    assert share([["yes", "no"], ["yes", "yes"]], "yes") == pytest.approx(0.75)


def _noisy_follower(prompts: int, follow: float, seed: int) -> tuple[list[list[str]], list[str]]:
    rng = np.random.default_rng(seed)
    labels = _labels(prompts)
    return [[lab if rng.random() < follow else str(rng.choice(FAMILIES)) for _ in range(3)] for lab in labels], labels


def test_position_interval_brackets_the_position_and_shrinks_with_more_prompts() -> None:
    pred, labels = _noisy_follower(16, 0.6, seed=3)
    test = adherence_test(pred, labels)
    point = position(test.observed, test.shuffled, 0.9)
    low, high = position_interval(pred, labels, 0.9)
    assert low < point < high and high - low > 0.2
    wide = [position_interval(*_noisy_follower(16, 0.6, seed=s), 0.9) for s in range(5)]
    narrow = [position_interval(*_noisy_follower(144, 0.6, seed=s), 0.9) for s in range(5)]
    assert np.mean([h - lo for lo, h in narrow]) < 0.5 * np.mean([h - lo for lo, h in wide])
    assert position_interval(pred, labels, 0.9, seed=1) == position_interval(pred, labels, 0.9, seed=1)


def test_position_interval_of_a_prompt_ignoring_model_holds_zero() -> None:
    rng = np.random.default_rng(4)
    labels = _labels(24)
    pred = [[str(rng.choice(FAMILIES)) for _ in range(3)] for _ in labels]
    low, high = position_interval(pred, labels, 0.9)
    assert low < 0.0 < high
    perfect = position_interval([[lab] * 3 for lab in labels], labels, 1.0)
    assert perfect == pytest.approx((1.0, 1.0))


def test_position_interval_is_none_without_a_span_and_refuses_bad_input() -> None:
    labels = ["yes"] * 10 + ["no"] * 2
    assert position_interval([["yes"] * 3 for _ in labels], labels, 0.8) is None
    with pytest.raises(ValueError):
        position_interval([], [], 0.9)
    with pytest.raises(ValueError):
        position_interval([["a"]], ["a"], 0.9, level=1.0)
