"""Residual VQ: shapes, ranges, determinism, error decreasing with levels, save/load round trip."""
import torch

from data_prep.rvq import ResidualVQ


def _data(n: int = 300, d: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=1)


def test_shapes_and_ranges():
    x = _data()
    rvq = ResidualVQ.fit(x, levels=4, bins=32, iters=5)
    codes = rvq.encode(x[:7])
    assert codes.shape == (7, 4) and codes.dtype == torch.long
    assert int(codes.min()) >= 0 and int(codes.max()) < 32
    assert rvq.decode(codes).shape == (7, 16)
    assert rvq.codebooks.shape == (4, 32, 16)


def test_deterministic_fit():
    x = _data()
    a = ResidualVQ.fit(x, levels=3, bins=16, iters=5, seed=3)
    b = ResidualVQ.fit(x, levels=3, bins=16, iters=5, seed=3)
    assert torch.equal(a.codebooks, b.codebooks)
    assert torch.equal(a.encode(x), b.encode(x))


def test_error_falls_with_levels():
    x = _data()
    stats = ResidualVQ.fit(x, levels=4, bins=16, iters=10).stats(x)
    errs = stats.per_level_relative_mse
    assert all(later < earlier for earlier, later in zip(errs, errs[1:]))
    assert stats.cosine > 0.5


def test_fewer_points_than_bins_keeps_shape():
    x = _data(n=10)
    rvq = ResidualVQ.fit(x, levels=2, bins=64, iters=3)
    assert rvq.codebooks.shape == (2, 64, 16)
    assert int(rvq.encode(x).max()) < 10


def test_save_load_round_trip(tmp_path):
    x = _data()
    rvq = ResidualVQ.fit(x, levels=2, bins=8, iters=3)
    rvq.save(tmp_path / "rvq.pt")
    back = ResidualVQ.load(tmp_path / "rvq.pt")
    assert torch.equal(back.encode(x), rvq.encode(x))
