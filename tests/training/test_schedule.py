"""The shared LR schedule at its key steps, in each trainer's configuration."""
import math

import pytest

from training.schedule import decay_factor, lr_factor, set_lr


def test_warmup_is_linear_then_cosine_reaches_the_floor():
    assert lr_factor(0, 110, warmup=10, floor=0.1) == pytest.approx(0.1)
    assert lr_factor(4, 110, warmup=10, floor=0.1) == pytest.approx(0.5)
    assert lr_factor(10, 110, warmup=10, floor=0.1) == pytest.approx(1.0)
    assert lr_factor(60, 110, warmup=10, floor=0.1) == pytest.approx(0.55)
    assert lr_factor(110, 110, warmup=10, floor=0.1) == pytest.approx(0.1)
    assert lr_factor(500, 110, warmup=10, floor=0.1) == pytest.approx(0.1)


def test_floor_one_holds_the_peak_after_warmup():
    """The melody trainer's schedule: 50 warmup steps, then constant."""
    assert [lr_factor(s, 1000, warmup=50, floor=1.0) for s in (0, 24, 49, 50, 999)] == [0.02, 0.5, 1.0, 1.0, 1.0]


def test_no_warmup_starts_at_the_peak():
    assert lr_factor(0, 100, warmup=0, floor=0.05) == 1.0
    assert lr_factor(50, 100, warmup=0, floor=0.05) == pytest.approx(0.05 + 0.95 * 0.5)


def test_linear_decay_over_the_last_share():
    """The codec's schedule: constant, then linear to the floor over the last `share` of progress."""
    assert decay_factor(0.2, 0.1, "linear", 0.5) == 1.0
    assert decay_factor(0.5, 0.1, "linear", 0.5) == 1.0
    assert decay_factor(0.75, 0.1, "linear", 0.5) == pytest.approx(0.55)
    assert decay_factor(1.0, 0.1, "linear", 0.5) == pytest.approx(0.1)
    assert decay_factor(2.0, 0.1, "linear", 0.5) == pytest.approx(0.1)
    assert decay_factor(0.99, 0.1, "linear", 0.0) == 1.0


def test_cosine_share_holds_then_follows_a_half_cosine():
    assert decay_factor(0.4, 0.0, "cosine", 0.5) == 1.0
    assert decay_factor(0.75, 0.0, "cosine", 0.5) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))


def test_unknown_shape_is_refused():
    with pytest.raises(ValueError, match="unknown LR decay shape"):
        decay_factor(0.5, 0.1, "step")


def test_set_lr_sets_every_group_of_every_optimizer():
    import torch

    a = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.ones(1))]},
                         {"params": [torch.nn.Parameter(torch.ones(1))]}], lr=1.0)
    b = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1.0)
    assert set_lr([a, b], 0.25) == 0.25
    assert [g["lr"] for g in a.param_groups + b.param_groups] == [0.25, 0.25, 0.25]
    set_lr(b, 0.5)
    assert b.param_groups[0]["lr"] == 0.5
