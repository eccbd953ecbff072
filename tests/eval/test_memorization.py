"""Exact matches, tau calibration against a requested false-positive rate, token entropy, and the audit data."""
import math

import pytest
import torch

from eval.memorization import (
    PromptGroup,
    calibrate_tau,
    exact_matches,
    memorization_audit,
    negative_pairs,
    nearest_neighbour_similarity,
    token_entropy,
    trivial_rows,
)
from eval.sinkhorn import SinkhornSettings


pytestmark = pytest.mark.usefixtures("one_thread")


def test_exact_match_needs_every_token():
    gen = torch.tensor([[1, 2, 3], [1, 2, 3], [3, 2, 1]])
    tgt = torch.tensor([[1, 2, 3], [1, 2, 4], [1, 2, 3]])
    assert exact_matches(gen, tgt).tolist() == [True, False, False]
    with pytest.raises(ValueError):
        exact_matches(gen, tgt[:, :2])


def test_token_entropy():
    assert str(token_entropy(torch.zeros(50, dtype=torch.long))) == "0.0"
    assert token_entropy(torch.arange(8).repeat(4)) == pytest.approx(3.0)


@pytest.mark.parametrize("max_fpr", [1e-3, 1e-2, 0.05])
def test_tau_meets_requested_fpr_on_synthetic_negatives(max_fpr):
    gen = torch.Generator().manual_seed(0)
    negatives = torch.rand(20000, generator=gen) * 2 + 0.5
    cal = calibrate_tau(negatives, max_fpr)
    fpr = float((negatives < cal.tau).double().mean())
    assert fpr <= max_fpr and cal.achieved_fpr == pytest.approx(fpr)
    assert cal.resolvable and cal.n_negatives == 20000
    # tau is the largest such threshold: the next negative up would exceed the rate.
    above = negatives[negatives >= cal.tau].min()
    assert float((negatives <= above).double().mean()) > max_fpr
    # On fresh negatives from the same distribution the rate holds up to sampling noise.
    fresh = torch.rand(200000, generator=gen) * 2 + 0.5
    assert float((fresh < cal.tau).double().mean()) <= max_fpr * 1.5 + 3 / 200000


def test_too_few_negatives_is_reported():
    cal = calibrate_tau(torch.linspace(1.0, 2.0, 500), 1e-4)
    assert not cal.resolvable and cal.false_positives == 0
    assert cal.tau == pytest.approx(1.0)
    assert "too few negatives" in cal.note and "500" in cal.note


def test_negative_pairs_never_pair_an_example_with_itself():
    example = torch.tensor([0, 1, 2, 0, 1, 2])
    i, j = negative_pairs(example, max_pairs=1000)
    assert len(i) == 36 - 12 and (example[i] != example[j]).all()
    i, j = negative_pairs(torch.arange(300) % 100, max_pairs=500, seed=3)
    assert len(i) == 500 and ((torch.arange(300) % 100)[i] != (torch.arange(300) % 100)[j]).all()


def test_audit_flags_copies_and_calibrates_on_others():
    gen = torch.Generator().manual_seed(0)
    centroids = torch.randn(32, 8, generator=gen)
    targets = torch.randint(0, 32, (40, 30), generator=gen)
    generated = torch.randint(0, 32, (40, 30), generator=gen)
    generated[:5] = targets[:5]
    generated[5] = targets[5].flip(0)
    group = PromptGroup(2.0, 50, [f"ex{i}" for i in range(40)], torch.arange(40), generated, targets)
    result = memorization_audit([group], centroids, max_fpr=1e-3, settings=SinkhornSettings(0.05, 300, 1e-6))
    row = result.per_prompt[0]
    assert row["exact_matches"] == 5 and row["n"] == 40
    flagged = {c["example_id"] for c in result.candidate_costs if c["approximate"]}
    assert {f"ex{i}" for i in range(6)} <= flagged
    assert result.calibration.n_negatives == 40 * 39
    assert len(result.closest) == 10 and result.closest[0]["cost"] <= result.closest[-1]["cost"]
    assert all("generated_entropy_bits" in c for c in result.closest)


def test_constant_negatives_do_not_collapse_tau():
    centroids = torch.randn(32, 8, generator=torch.Generator().manual_seed(1))
    varied = torch.randint(0, 32, (40, 30), generator=torch.Generator().manual_seed(2))
    generated, targets = varied.clone(), varied.flip(0).clone()
    generated[:4] = 7  # four silent continuations of four silent targets: 12 negative pairs cost exactly 0
    targets[:4] = 7
    targets[4] = torch.tensor([3, 9] * 15)  # two distinct tokens: trivial whatever its entropy
    group = PromptGroup(0.0, 0, [f"ex{i}" for i in range(40)], torch.arange(40), generated, targets)
    settings = SinkhornSettings(0.05, 100, 1e-6)
    result = memorization_audit([group], centroids, max_fpr=1e-2, settings=settings)
    cal = result.calibration
    assert cal.tau > 0 and cal.resolvable and result.notes == []
    assert cal.trivial_negatives == 5 * 39 and cal.n_negatives == 40 * 39 - 5 * 39
    row = result.per_prompt[0]
    assert row["trivial"] == 5 and row["trivial_exact"] == 4 and row["exact_matches"] == 4
    assert row["trivial_generated"] == 4
    assert not any(c["approximate"] for c in result.candidate_costs if c["trivial"])
    collapsed = memorization_audit([group], centroids, max_fpr=1e-2, settings=settings, trivial_entropy=0.0)
    assert collapsed.calibration.tau > 0  # the distinct-token rule alone keeps silence out
    assert [c["trivial"] for c in result.candidate_costs] == [i < 5 for i in range(40)]


def test_trivial_rows_flag_near_constant_sequences():
    rows = torch.stack([torch.full((64,), 3), torch.tensor([1, 2] * 32), torch.tensor([5] * 61 + [1, 2, 3]),
                        torch.arange(64) % 16])
    assert trivial_rows(rows, 256, 0.2).tolist() == [True, True, True, False]
    assert trivial_rows(rows, 256, 0.0).tolist() == [True, True, False, False]


def test_nearest_neighbour_similarity():
    train = torch.eye(4)
    gen = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    out = nearest_neighbour_similarity(gen, train, 0.95)
    assert out["fraction_above"] == pytest.approx(0.5)
    assert out["max_nn_cosine"] == pytest.approx(1.0)
    assert out["mean_nn_cosine"] == pytest.approx((1 + 1 / math.sqrt(2)) / 2)
