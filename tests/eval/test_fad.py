"""Frechet distance against the textbook scipy formula, FAD over an injected backbone and KL."""
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from eval.fad import embed_clips, fad, frechet_distance
from eval.kl import kl_rows, paired_kl


def _scipy_frechet(x: np.ndarray, y: np.ndarray) -> float:
    mu1, mu2 = x.mean(0), y.mean(0)
    c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(c1 @ c2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * root))


def test_frechet_matches_scipy_formula():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6))
    y = rng.normal(size=(250, 6)) @ rng.normal(size=(6, 6)) * 0.5 + 1.0
    assert frechet_distance(x, y) == pytest.approx(_scipy_frechet(x, y), rel=1e-6)


def test_frechet_basic_properties():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 4))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(x, x + 3.0) == pytest.approx(4 * 9.0, rel=1e-6)
    few = rng.normal(size=(3, 16))  # singular covariances stay finite and non-negative
    assert math.isfinite(frechet_distance(few, few + 0.1)) and frechet_distance(few, few + 0.1) >= 0
    with pytest.raises(ValueError):
        frechet_distance(x[:1], x)


def test_fad_uses_the_backbone_and_orders_sets():
    def backbone(wav, sr):
        spec = torch.fft.rfft(wav).abs()[:, 1:65]
        return torch.log1p(spec)

    t = torch.arange(4000) / 8000
    gen = torch.Generator().manual_seed(0)
    tones = lambda f, n: torch.stack([torch.sin(2 * math.pi * (f + 5 * k) * t) + 0.05 * torch.randn(4000, generator=gen) for k in range(n)])
    ref, near, far = tones(440, 12), tones(445, 12), tones(900, 12)
    assert embed_clips(backbone, list(ref), 8000, batch_size=5).shape == (12, 64)
    assert fad(backbone, ref, near, 8000) < fad(backbone, ref, far, 8000)


def test_kl():
    p = torch.tensor([[0.9, 0.1], [0.5, 0.5]])
    assert paired_kl(p, p) == pytest.approx(0.0, abs=1e-9)
    q = torch.tensor([[0.1, 0.9], [0.5, 0.5]])
    expected = 0.9 * math.log(9) + 0.1 * math.log(1 / 9)
    assert kl_rows(p, q)[0].item() == pytest.approx(expected, rel=1e-5)
    assert paired_kl(p, q) == pytest.approx(expected / 2, rel=1e-5)

