"""Training and validation batches: weighted draws of records, and the text-conditioned view of records that
generation's loss is measured on."""
import pytest
import torch

from stages.batches import eval_batches, record_weights, sample_batch, text_conditioned
from stages.layout_registry import make_layout

from .synthetic import tiny_records, tiny_spec


def test_text_conditioned_puts_each_caption_in_place_of_the_audio_cond():
    token_spec = tiny_spec()
    layout = make_layout("semantic", token_spec, crop_seconds=0.4)
    records = tiny_records(3, 1.0, token_spec)
    records[0]["cond_text"] = torch.tensor([[1, 1, 1], [2, 2, 2]])
    records[2]["cond_text"] = torch.tensor([[3, 3, 3]])
    audio_cond = [r["cond"].clone() for r in records]
    views = text_conditioned(records)
    assert [(v["id"], v["cond"].tolist()) for v in views] == [
        (records[0]["id"], [1, 1, 1]), (records[0]["id"], [2, 2, 2]), (records[2]["id"], [3, 3, 3])]
    assert all(torch.equal(r["cond"], c) for r, c in zip(records, audio_cond))  # the records are left as they were
    levels = layout.vocab.levels("cond")
    (tokens, _), = eval_batches(layout, views, batch_size=8)
    assert [int(layout.vocab.decode("cond", row[:levels])[0]) for row in tokens] == [1, 2, 3]
    assert text_conditioned([tiny_records(1, 1.0, token_spec)[0]]) == []


def test_weighted_draws_follow_the_record_weights():
    token_spec = tiny_spec()
    layout = make_layout("semantic", token_spec, crop_seconds=0.4)
    records = tiny_records(4, 1.0, token_spec)
    for i, r in enumerate(records):
        r["cond"] = torch.full((3,), i)  # each record's conditioning tokens name it
        r["weight"] = [0.0, 1.0, 1.0, 2.0][i]
    levels = layout.vocab.levels("cond")
    tokens, _ = sample_batch(layout, records, 800, torch.Generator().manual_seed(0), weights=record_weights(records))
    drawn = torch.tensor([int(layout.vocab.decode("cond", row[:levels])[0]) for row in tokens])
    counts = torch.bincount(drawn, minlength=4).tolist()
    assert counts[0] == 0 and abs(counts[3] / 800 - 0.5) < 0.06 and abs(counts[1] - counts[2]) < 80
    uniform, _ = sample_batch(layout, records, 800, torch.Generator().manual_seed(0))
    assert torch.bincount(torch.tensor([int(layout.vocab.decode("cond", row[:levels])[0]) for row in uniform]))[0] > 150


def test_record_weights_are_none_without_weights_and_refuse_bad_ones():
    records = tiny_records(3, 1.0, tiny_spec())
    assert record_weights(records) is None
    records[1]["weight"] = 3.0
    assert record_weights(records).tolist() == [1.0, 3.0, 1.0]
    for bad in (-1.0, float("nan"), float("inf")):
        records[1]["weight"] = bad
        with pytest.raises(ValueError):
            record_weights(records)
    with pytest.raises(ValueError):
        record_weights([{**r, "weight": 0.0} for r in records])
