"""The attribute classifier learns separable attributes from embeddings, and gives one distribution per clip."""
import pytest
import torch

from data_prep.errors import DataError
from eval.attributes import AttributeClassifier, attribute_labels


def _data(n: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    family = torch.randint(0, 3, (n,), generator=gen)
    drums = torch.randint(0, 2, (n,), generator=gen)
    x = torch.randn(n, 10, generator=gen) * 0.3
    x[:, 0] += family * 2.0
    x[:, 1] += drums * 2.0
    records = [{"id": str(i), "attributes": {"family": ["brass", "keys", "strings"][int(f)], "drums": bool(d),
                                             "tempo_word": "fast", "mode": "major"}}
               for i, (f, d) in enumerate(zip(family, drums))]
    return x, records


def test_fits_and_predicts_attributes():
    x, records = _data(200, 0)
    labels = attribute_labels(records)
    assert set(labels) == {"family", "drums", "tempo_word", "mode"} and labels["drums"][0] in ("yes", "no")
    clf = AttributeClassifier.fit(x, labels)
    xt, rt = _data(100, 1)
    pred, wanted = clf.predict(xt), attribute_labels(rt)
    acc = {n: sum(a == b for a, b in zip(pred[n], wanted[n])) / len(wanted[n]) for n in wanted}
    assert acc["family"] > 0.9 and acc["drums"] > 0.9 and acc["tempo_word"] == 1.0
    probs = clf.predict_proba(xt)
    assert probs["family"].shape == (100, 3) and probs["drums"].shape == (100, 2) and probs["mode"].shape == (100, 1)
    torch.testing.assert_close(probs["family"].sum(1), torch.ones(100, dtype=torch.float64))


def test_binary_probabilities_match_sklearn():
    from sklearn.linear_model import LogisticRegression

    x, records = _data(120, 2)
    labels = attribute_labels(records, ["drums"])
    clf = AttributeClassifier.fit(x, labels)
    z = ((x.double() - x.double().mean(0)) / x.double().std(0)).numpy()
    ref = LogisticRegression(max_iter=2000, random_state=0).fit(z, labels["drums"]).predict_proba(z)
    torch.testing.assert_close(clf.predict_proba(x)["drums"], torch.from_numpy(ref), atol=1e-6, rtol=1e-5)


def test_missing_attribute_is_a_data_error():
    with pytest.raises(DataError, match="no attribute 'mode'"):
        attribute_labels([{"id": "a", "attributes": {"family": "x", "drums": True, "tempo_word": "slow"}}])
