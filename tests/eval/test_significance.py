"""Prompt-level permutation test: a follower is significant, a prompt-ignoring model is not; position arithmetic."""
from __future__ import annotations

import numpy as np
import pytest

from eval.significance import AdherenceTest, adherence_test, position, share

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
