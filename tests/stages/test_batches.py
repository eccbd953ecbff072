"""Validation batches: the text-conditioned view of records that generation's loss is measured on."""
import torch

from stages.batches import eval_batches, text_conditioned
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
