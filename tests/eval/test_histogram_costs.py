"""Transport costs between token histograms: sparse histograms, agreement with POT on token sequences, and
costs that do not depend on how pairs are batched or gathered."""
import numpy as np
import ot
import pytest
import torch

from eval import histogram_costs
from eval.histogram_costs import centroid_distances, padded_histograms, pair_costs
from eval.sinkhorn import SinkhornSettings, Workspace


pytestmark = pytest.mark.usefixtures("one_thread")


def test_padded_histograms():
    ids, mass = padded_histograms(torch.tensor([[5, 5, 1, 5], [2, 3, 4, 2]]))
    assert ids.shape == (2, 3)
    assert ids[0, :2].tolist() == [1, 5] and mass[0].tolist() == [0.25, 0.75, 0.0]
    assert ids[1].tolist() == [2, 3, 4] and mass[1].tolist() == [0.5, 0.25, 0.25]


def test_padded_histograms_match_a_per_row_count():
    tokens = torch.randint(1000, 1040, (37, 25), generator=torch.Generator().manual_seed(2))
    ids, mass = padded_histograms(tokens)
    for row, (row_ids, row_mass) in enumerate(zip(ids, mass)):
        values, counts = torch.unique(tokens[row], return_counts=True)
        n = values.numel()
        assert row_ids[:n].tolist() == values.tolist()
        torch.testing.assert_close(row_mass[:n], counts.float() / 25)
        assert (row_mass[n:] == 0).all()


def test_cost_sees_histograms_not_order():
    centroids = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    seq = torch.randint(0, 64, (4, 50), generator=torch.Generator().manual_seed(1))
    settings = SinkhornSettings(0.05, 500, 1e-7)
    same = pair_costs(seq, seq, centroids, settings)
    reordered = pair_costs(seq, seq.flip(1), centroids, settings)
    shifted = pair_costs(seq, (seq + 17) % 64, centroids, settings)
    torch.testing.assert_close(same, reordered)
    assert (same < shifted).all()


def test_pair_costs_match_pot_on_token_sequences():
    gen = torch.Generator().manual_seed(4)
    centroids = torch.randn(100, 16, generator=gen)
    a = torch.randint(0, 100, (25, 40), generator=gen) // 3
    b = torch.randint(0, 100, (25, 40), generator=gen) // 2
    settings = SinkhornSettings(epsilon=0.1, iters=3000, tol=1e-7)
    dist, unit = centroid_distances(centroids)
    ours = pair_costs(a, b, centroids, settings, batch_size=7).double().numpy()
    c = centroids.double().numpy()
    for k in range(25):
        ia, ca = np.unique(a[k].numpy(), return_counts=True)
        ib, cb = np.unique(b[k].numpy(), return_counts=True)
        m = np.linalg.norm(c[ia][:, None] - c[ib][None], axis=-1) / unit
        ref = ot.sinkhorn2(ca / ca.sum(), cb / cb.sum(), m, 0.1, numItermax=3000, stopThr=1e-9)
        assert ours[k] == pytest.approx(ref, rel=1e-4, abs=1e-5)


def test_tokens_outside_the_clusters_are_refused():
    centroids = torch.randn(16, 4)
    ok = torch.zeros(2, 10, dtype=torch.long)
    for bad in (ok - 1, ok + 16):
        with pytest.raises(ValueError, match="outside the 16 k-means clusters"):
            pair_costs(bad, ok, centroids)
        with pytest.raises(ValueError, match="outside the 16 k-means clusters"):
            pair_costs(ok, bad, centroids)


def test_pair_costs_are_the_same_however_their_costs_are_gathered(monkeypatch):
    gen = torch.Generator().manual_seed(8)
    centroids = torch.randn(256, 32, generator=gen)
    palettes = torch.stack([torch.randperm(256, generator=gen)[:150] for _ in range(80)])
    rows = palettes.gather(1, torch.randint(0, 150, (80, 125), generator=gen))
    gen_rows, tgt_rows = rows[:40], rows[40:]
    settings = SinkhornSettings(epsilon=0.05, iters=200, tol=1e-7)
    one_gather = pair_costs(gen_rows, tgt_rows, centroids, settings, batch_size=16)
    # A gather budget below one batch: every batch is gathered alone, and the workspace is shared with another call.
    monkeypatch.setattr(histogram_costs, "GATHER_CELLS", 100)
    workspace = Workspace()
    pair_costs(tgt_rows[:5], gen_rows[:5], centroids, settings, workspace=workspace)
    torch.testing.assert_close(pair_costs(gen_rows, tgt_rows, centroids, settings, batch_size=16, workspace=workspace),
                               one_gather)
