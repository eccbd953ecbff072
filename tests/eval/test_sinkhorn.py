"""The batched log-domain Sinkhorn agrees with POT (a test-only dependency) and stays finite for small epsilon."""
import numpy as np
import ot
import pytest
import torch

from eval.histogram_costs import centroid_distances, padded_histograms, pair_costs
from eval.sinkhorn import SinkhornSettings, Workspace, _Batch, sinkhorn_cost


pytestmark = pytest.mark.usefixtures("one_thread")


def _random_problems(seed: int, n_pairs: int, max_a: int, max_b: int):
    rng = np.random.default_rng(seed)
    a = np.zeros((n_pairs, max_a))
    b = np.zeros((n_pairs, max_b))
    cost = np.zeros((n_pairs, max_a, max_b))
    problems = []
    for k in range(n_pairs):
        n, m = rng.integers(1, max_a + 1), rng.integers(1, max_b + 1)
        pa, pb = rng.random(n) + 0.05, rng.random(m) + 0.05
        pa, pb = pa / pa.sum(), pb / pb.sum()
        x, y = rng.normal(size=(n, 3)), rng.normal(size=(m, 3))
        c = np.linalg.norm(x[:, None] - y[None], axis=-1)
        a[k, :n], b[k, :m], cost[k, :n, :m] = pa, pb, c
        problems.append((pa, pb, c))
    return a, b, cost, problems


@pytest.mark.parametrize("epsilon", [0.05, 0.2, 1.0])
def test_matches_pot_on_random_histograms(epsilon):
    a, b, cost, problems = _random_problems(seed=1, n_pairs=40, max_a=9, max_b=7)
    settings = SinkhornSettings(epsilon=epsilon, iters=20000, tol=1e-11)
    ours = sinkhorn_cost(torch.tensor(a), torch.tensor(b), torch.tensor(cost), settings).numpy()
    ref = np.array([ot.sinkhorn2(pa, pb, c, epsilon, numItermax=20000, stopThr=1e-11) for pa, pb, c in problems])
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-8)


def test_float32_agrees_with_pot_within_tolerance():
    a, b, cost, problems = _random_problems(seed=2, n_pairs=30, max_a=12, max_b=12)
    settings = SinkhornSettings(epsilon=0.1, iters=5000, tol=1e-7)
    ours = sinkhorn_cost(torch.tensor(a).float(), torch.tensor(b).float(), torch.tensor(cost).float(), settings).numpy()
    ref = np.array([ot.sinkhorn2(pa, pb, c, 0.1, numItermax=5000, stopThr=1e-9) for pa, pb, c in problems])
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


def test_small_epsilon_stays_finite_and_approaches_exact_ot():
    a, b, cost, problems = _random_problems(seed=3, n_pairs=20, max_a=8, max_b=8)
    settings = SinkhornSettings(epsilon=1e-3, iters=20000, tol=1e-7)
    ours = sinkhorn_cost(torch.tensor(a).float(), torch.tensor(b).float(), torch.tensor(cost).float(), settings)
    assert torch.isfinite(ours).all()
    exact = np.array([ot.emd2(pa, pb, c) for pa, pb, c in problems])
    np.testing.assert_allclose(ours.double().numpy(), exact, atol=2e-2)


def _token_pairs(seed: int, n: int = 48):
    """Audit-like pairs: 125 tokens over a 256-cluster vocabulary, about 70 distinct ids per row."""
    gen = torch.Generator().manual_seed(seed)
    centroids = torch.randn(256, 32, generator=gen)
    palettes = torch.stack([torch.randperm(256, generator=gen)[:150] for _ in range(2 * n)])
    picks = torch.randint(0, 150, (2 * n, 125), generator=gen)
    rows = palettes.gather(1, picks)
    return rows[:n], rows[n:], centroids


@pytest.fixture(scope="module")
def errors():
    """Relative errors against converged costs on audit-like pairs, for (omega, iteration cap, extrapolation)."""
    gen_rows, tgt_rows, centroids = _token_pairs(seed=5)
    converged = pair_costs(gen_rows, tgt_rows, centroids, SinkhornSettings(0.05, 4000, 1e-9, omega=1.0)).double()

    def error(omega: float, iters: int, extrapolate: bool = True) -> torch.Tensor:
        settings = SinkhornSettings(0.05, iters, 1e-9, omega=omega, extrapolate=extrapolate)
        return (pair_costs(gen_rows, tgt_rows, centroids, settings).double() - converged).abs() / converged

    return error


@pytest.fixture(scope="module")
def worst_error(errors):
    return lambda *args: float(errors(*args).max())


def test_over_relaxation_reaches_the_same_costs_in_fewer_iterations(worst_error):
    assert worst_error(1.5, 4000) < 2e-5
    assert worst_error(1.5, 40) < worst_error(1.0, 40) / 4
    # Read out on the row constraint, 30 relaxed iterations beat 200 plain ones (without that readout they did not).
    assert worst_error(1.5, 30, False) <= worst_error(1.0, 200, False)


def test_extrapolating_pairs_cut_short_lowers_the_worst_error_and_not_the_typical_one(errors):
    for omega, iters in ((1.5, 20), (1.5, 30), (1.0, 200)):
        assert float(errors(omega, iters).max()) < 0.75 * float(errors(omega, iters, False).max())
    # Plain Sinkhorn after 20 iterations is still in its transient: the gain guard leaves the typical pair alone.
    for omega in (1.0, 1.5):
        assert float(errors(omega, 20).median()) <= 1.05 * float(errors(omega, 20, False).median())


def test_an_absorption_changes_neither_the_plan_nor_its_extrapolation():
    gen_rows, tgt_rows, centroids = _token_pairs(seed=5)
    ids_a, mass_a = padded_histograms(gen_rows)
    ids_b, mass_b = padded_histograms(tgt_rows)
    dist, unit = centroid_distances(centroids)
    cost = dist[ids_a.long()[:, :, None], ids_b.long()[:, None, :]] / unit

    def plans(absorb: bool):
        batch = _Batch(mass_a, mass_b, cost, 0.05, 1.5, Workspace())
        batch._iterate(20, track_last=True)
        if absorb:  # folds v into the potential g and restarts v (1 on its support) between the last step and the read-out
            batch._absorb()
        err = batch._marginal_error()
        u = batch._row_update(batch.v)
        far_u, far_v = batch._extrapolated(u, err, torch.ones_like(err, dtype=torch.bool), *batch.before_last)
        return far_u[:, :, None] * batch.kernel * far_v[:, None, :], u[:, :, None] * batch.kernel * batch.v[:, None, :]

    extrapolated, plain = plans(absorb=False)
    assert (extrapolated - plain).abs().amax(dim=(1, 2)).gt(1e-6).sum() >= 5
    extrapolated_after, plain_after = plans(absorb=True)
    torch.testing.assert_close(plain_after, plain, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(extrapolated_after, extrapolated, rtol=1e-4, atol=1e-7)


def test_relaxation_that_blows_up_in_the_first_block_falls_back_to_plain(worst_error):
    # omega 1.9 overshoots from the start on these pairs; the first block is judged against the starting error.
    for iters in (20, 200):
        assert worst_error(1.9, iters) <= worst_error(1.0, iters) * 1.001


def test_iteration_cap_is_exact_not_rounded_to_the_check_interval(worst_error):
    assert worst_error(1.0, 20) < worst_error(1.0, 15) < worst_error(1.0, 10)


def test_a_shared_workspace_gives_the_same_costs_as_fresh_buffers():
    settings = SinkhornSettings(epsilon=0.05, iters=300, tol=1e-9)
    problems = [_random_problems(seed=7 + k, n_pairs=6, max_a=4 + 3 * k, max_b=9 - 2 * k)[:3] for k in range(3)]
    workspace = Workspace()
    for a, b, cost in problems:
        a, b, cost = torch.tensor(a).float(), torch.tensor(b).float(), torch.tensor(cost).float()
        torch.testing.assert_close(sinkhorn_cost(a, b, cost, settings, workspace), sinkhorn_cost(a, b, cost, settings))


def test_diverging_relaxation_falls_back_to_plain_sinkhorn():
    a, b, cost, problems = _random_problems(seed=6, n_pairs=30, max_a=10, max_b=10)
    settings = SinkhornSettings(epsilon=0.05, iters=20000, tol=1e-10, omega=1.99)
    ours = sinkhorn_cost(torch.tensor(a), torch.tensor(b), torch.tensor(cost), settings).numpy()
    ref = np.array([ot.sinkhorn2(pa, pb, c, 0.05, numItermax=20000, stopThr=1e-10) for pa, pb, c in problems])
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-7)


def test_rejects_bad_shapes_and_settings():
    with pytest.raises(ValueError):
        sinkhorn_cost(torch.ones(2, 3), torch.ones(2, 4), torch.ones(2, 4, 3))
    with pytest.raises(ValueError):
        sinkhorn_cost(torch.ones(1, 1), torch.ones(1, 1), torch.ones(1, 1, 1), SinkhornSettings(epsilon=0.0))
    for omega in (0.0, 2.0):
        with pytest.raises(ValueError):
            sinkhorn_cost(torch.ones(1, 1), torch.ones(1, 1), torch.ones(1, 1, 1), SinkhornSettings(omega=omega))
