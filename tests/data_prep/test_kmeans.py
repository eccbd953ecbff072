"""faiss k-means: seeded determinism, batched assignment, saved centroids, clear errors."""
import pytest
import torch

from data_prep.errors import DataError
from data_prep.semantic.config import KMeansConfig
from data_prep.semantic.kmeans import assign, fit_kmeans, load_centroids, sample_frames, save_kmeans


def blobs(n_per: int = 200, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    labels = torch.arange(4).repeat_interleave(n_per)
    return centres[labels] + 0.3 * torch.randn(len(labels), 2, generator=gen), labels


def test_fixed_seed_is_deterministic_and_finds_the_clusters():
    x, labels = blobs()
    cfg = KMeansConfig(clusters=4, iters=20, seed=3)
    c1, inertia1 = fit_kmeans(x, cfg)
    c2, inertia2 = fit_kmeans(x, cfg)
    assert torch.equal(c1, c2) and inertia1 == inertia2
    ids, _ = assign(x, c1)
    for k in range(4):  # each true blob maps to one cluster
        assert torch.unique(ids[labels == k]).numel() == 1
    assert inertia1 / len(x) < 0.5


def test_batched_assignment_matches_brute_force():
    x = torch.randn(1000, 8)
    centroids = torch.randn(16, 8)
    ids, total = assign(x, centroids, batch=37)
    d = torch.cdist(x, centroids) ** 2
    assert torch.equal(ids, d.argmin(1))
    assert total == pytest.approx(float(d.min(1).values.sum()), rel=1e-4)


def test_sampling_is_seeded_and_bounded():
    x = torch.arange(100.0).unsqueeze(1)
    a, b = sample_frames(x, 10, seed=1), sample_frames(x, 10, seed=1)
    assert a.shape == (10, 1) and torch.equal(a, b) and a.unique().numel() == 10
    assert sample_frames(x, 1000, seed=1) is x


def test_centroids_saved_and_loaded_weights_only(tmp_path):
    x, _ = blobs(50)
    cfg = KMeansConfig(clusters=4, iters=5)
    centroids, inertia = fit_kmeans(x, cfg)
    save_kmeans(tmp_path / "kmeans.pt", centroids, cfg, inertia, "mel")
    blob = torch.load(tmp_path / "kmeans.pt", map_location="cpu", weights_only=True)
    assert blob["config"]["clusters"] == 4 and blob["source"] == "mel"
    assert torch.equal(load_centroids(tmp_path / "kmeans.pt"), centroids)


def test_too_few_frames_and_missing_file_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="at least semantic.kmeans.clusters=64"):
        fit_kmeans(torch.randn(10, 2), KMeansConfig(clusters=64))
    with pytest.raises(DataError, match="strata train kmeans"):
        load_centroids(tmp_path / "nope.pt")
