import numpy as np

from eval.token_share import NONE_BELOW, cluster_share, enriched_clusters, share_summary


def test_enriched_clusters_are_the_ones_the_positive_clips_use_far_more():
    rng = np.random.default_rng(0)
    negative = rng.integers(0, 8, size=(20, 50))
    positive = rng.integers(0, 8, size=(20, 50))
    positive[:, ::2] = rng.choice([8, 9], size=(20, 25))  # clusters 8 and 9 mark the label
    tokens = np.concatenate([positive, negative])
    labels = np.array([True] * 20 + [False] * 20)
    assert enriched_clusters(tokens, labels, vocab=12).tolist() == [8, 9]
    assert enriched_clusters(tokens, np.ones(40, dtype=bool), vocab=12).size == 0
    assert enriched_clusters(tokens, np.zeros(40, dtype=bool), vocab=12).size == 0


def test_cluster_share_counts_frames_and_the_summary_counts_clips_with_none():
    tokens = np.array([[8, 1, 9, 2], [1, 2, 3, 4], [8, 8, 8, 8]])
    shares = cluster_share(tokens, np.array([8, 9]))
    assert shares.tolist() == [0.5, 0.0, 1.0]
    summary = share_summary(shares)
    assert summary == {"median": 0.5, "none": 1 / 3}
    assert share_summary(np.array([NONE_BELOW, NONE_BELOW / 2]))["none"] == 0.5
