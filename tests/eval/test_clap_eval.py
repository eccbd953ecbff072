"""CLAP text-path measure: text embeddings classified by the nearest mean audio embedding of each class."""
from __future__ import annotations

import torch

from eval.clap_eval import prototype_accuracy, text_path

FAMILIES = ("organ", "brass")


class KeywordTok:
    """Embeds a text as the unit vector of the first family word it contains (zero when none); RVQ is identity."""

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        out = torch.zeros(len(texts), 3)
        for i, text in enumerate(texts):
            hits = [j for j, f in enumerate(FAMILIES) if f in text.lower()]
            if hits:
                out[i, hits[0]] = 1.0
        return out

    def quantize(self, emb: torch.Tensor) -> torch.Tensor:
        return emb

    def dequantize(self, codes: torch.Tensor) -> torch.Tensor:
        return codes


def _audio(labels: list[str]) -> torch.Tensor:
    return torch.stack([torch.eye(3)[FAMILIES.index(v)] + 0.1 * torch.eye(3)[2] for v in labels])


def test_prototype_accuracy_counts_texts_nearest_their_own_class() -> None:
    labels = ["organ", "brass", "organ", "organ"]
    texts = KeywordTok().embed_text(["an organ piece", "brass band", "church organ", "something else"])
    assert prototype_accuracy(texts, labels, _audio(labels)) == 0.75
    assert prototype_accuracy(texts[:3], labels[:3], _audio(labels[:3])) == 1.0


def test_text_path_reads_template_and_paraphrase_captions() -> None:
    records = []
    for i, family in enumerate(FAMILIES * 3):
        attrs = {"family": family, "instruments": ["pipe organ" if family == "organ" else "trumpet"], "drums": i % 2 == 0,
                 "bpm": 80 + 20 * i, "mode": "major", "texture": "solo"}
        records.append({"id": f"c{i}", "caption": f"A {family} tune", "attributes": attrs})
    report = text_path(KeywordTok(), records, _audio([r["attributes"]["family"] for r in records]))
    assert report["family"]["template"] == {"continuous": 1.0, "quantized": 1.0}
    assert 0.0 <= report["family"]["paraphrase"]["continuous"] <= 1.0 and "drums" in report
    assert text_path(KeywordTok(), [{"id": "x", "caption": "c", "attributes": {"family": "organ"}}], _audio(["organ"])) == {}
