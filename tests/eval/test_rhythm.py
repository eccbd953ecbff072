"""The click detector at window joins."""
import math

import torch

from eval.rhythm import seam_ratio

SR = 22050


def test_seam_ratio_flags_a_discontinuity_and_passes_a_smooth_join():
    t = torch.arange(2 * SR) / SR
    smooth = 0.5 * torch.sin(2 * math.pi * 220 * t)
    assert seam_ratio(smooth, SR, [1.0]) < 1.2
    broken = smooth.clone()
    broken[SR:] = -broken[SR:] + 0.8
    assert seam_ratio(broken, SR, [1.0]) > 3.0
