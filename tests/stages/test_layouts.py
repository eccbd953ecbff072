"""Layouts: round trips, target masks, conditioning dropout, crop alignment, vocabulary ranges."""
from dataclasses import replace

import pytest
import torch

from stages.errors import StageError
from stages.layout_registry import layout_from_spec, make_layout
from stages.vocab import MASK, PAD, SEP, Vocab

from .synthetic import tiny_records, tiny_spec


@pytest.mark.parametrize("stage", ["semantic", "coarse", "fine"])
def test_flatten_unflatten_round_trip(stage):
    token_spec = tiny_spec()
    layout = make_layout(stage, token_spec, crop_seconds=1.0)
    g = torch.Generator().manual_seed(1)
    if stage == "semantic":
        raw = torch.randint(0, token_spec.semantic_bins, (3, 17), generator=g)
    else:
        levels = token_spec.n_coarse if stage == "coarse" else token_spec.n_q - token_spec.n_coarse
        raw = torch.randint(0, token_spec.codec_bins, (3, levels, 9), generator=g)
    flat = layout.flatten(raw)
    assert flat.dim() == 2
    assert torch.equal(layout.unflatten(flat), raw)
    lo, hi = layout.vocab.span(layout.target)
    assert int(flat.min()) >= lo and int(flat.max()) < layout.vocab.size


def test_coarse_flatten_is_row_major_with_level_offsets():
    layout = make_layout("coarse", tiny_spec(), 1.0)
    codes = torch.tensor([[[1, 2, 3], [4, 5, 6]]])  # [B=1, Q=2, F=3]
    off0, off1 = layout.vocab.offset("coarse", 0), layout.vocab.offset("coarse", 1)
    expect = [1 + off0, 4 + off1, 2 + off0, 5 + off1, 3 + off0, 6 + off1]
    assert layout.flatten(codes)[0].tolist() == expect
    assert layout.target_span(0) == (off0, off0 + 8) and layout.target_span(3) == (off1, off1 + 8)


def test_vocab_sections_do_not_overlap_and_reject_out_of_range():
    vocab = Vocab([("cond", 3, 5), ("semantic", 1, 16)])
    spans = [(0, 3)] + [vocab.span("cond", i) for i in range(3)] + [vocab.span("semantic")]
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:])) and vocab.size == spans[-1][1]
    with pytest.raises(StageError, match="out of range"):
        vocab.encode("semantic", torch.tensor([16]))
    assert Vocab.from_spec(vocab.spec()) == vocab


@pytest.mark.parametrize("stage", ["semantic", "coarse", "fine"])
def test_example_targets_follow_sep_and_spec_round_trips(stage):
    token_spec = tiny_spec()
    layout = make_layout(stage, token_spec, crop_seconds=0.4)
    rec = tiny_records(1, 2.0, token_spec)[0]
    tokens, mask = layout.example(rec, torch.Generator().manual_seed(0))
    sep = int((tokens == SEP).nonzero()[0])
    assert not mask[: sep + 1].any() and mask[sep + 1:].all()
    target = tokens[sep + 1:]
    for i, tok in enumerate(target.tolist()):
        lo, hi = layout.target_span(i)
        assert lo <= tok < hi
    expected = {"semantic": 10, "coarse": 30 * 2, "fine": 30 * 2}[stage]
    assert target.numel() == expected
    again = layout_from_spec(layout.spec())
    assert again.vocab == layout.vocab and again.spec() == layout.spec()


def test_coarse_crop_aligns_semantic_and_acoustic_windows():
    token_spec = tiny_spec()
    layout = make_layout("coarse", token_spec, crop_seconds=0.4)
    rec = tiny_records(1, 3.0, token_spec)[0]
    rec["semantic"] = torch.arange(75) % 16
    rec["acoustic"] = (torch.arange(225) // 3 % 8).repeat(4, 1)
    for seed in range(5):
        tokens, mask = layout.example(rec, torch.Generator().manual_seed(seed))
        sem = layout.vocab.decode("semantic", tokens[3:13])
        coarse = layout.unflatten(tokens[mask][None])[0]
        assert torch.equal(coarse[0] % 8, (torch.arange(30) // 3 + int(sem[0])) % 8)


def test_semantic_melody_window_and_conditioning_dropout():
    token_spec = tiny_spec(melody=True)
    layout = make_layout("semantic", token_spec, crop_seconds=0.8)  # 20 semantic tokens -> 4 melody tokens
    rec = tiny_records(1, 0.8, token_spec)[0]
    tokens, _ = layout.example(rec, None)
    assert layout.vocab.decode("melody", tokens[3:7]).tolist() == rec["melody"].tolist()
    assert tokens[7] == SEP
    always = layout.example(rec, torch.Generator().manual_seed(0), cond_drop_prob=1.0)[0]
    assert (always[:7] == MASK).all() and torch.equal(always[8:], tokens[8:])
    short = dict(rec, melody=rec["melody"][:2])
    padded = layout.example(short, None)[0]
    assert (padded[5:7] == MASK).all()


@pytest.mark.parametrize("stage", ["semantic", "coarse"])
def test_text_conditioning_takes_a_caption_row_with_its_probability(stage):
    token_spec = tiny_spec()
    layout = make_layout(stage, token_spec, crop_seconds=0.4)
    rec = tiny_records(1, 1.0, token_spec)[0]
    rec["cond"] = torch.tensor([0, 0, 0])
    rec["cond_text"] = torch.tensor([[1, 1, 1], [2, 2, 2]])
    levels = layout.vocab.levels("cond")

    def conds(prob, n=200):
        gen = torch.Generator().manual_seed(0)
        return [int(layout.vocab.decode("cond", layout.example(rec, gen, 0.0, prob)[0][:levels])[0]) for _ in range(n)]

    assert set(conds(0.0)) == {0}
    assert set(conds(1.0)) == {1, 2}
    share = sum(c > 0 for c in conds(0.5)) / 200
    assert 0.35 < share < 0.65
    rec["cond_text"] = None
    assert set(conds(1.0, 20)) == {0}


def test_fine_needs_fine_levels_and_meta_is_checked():
    token_spec = replace(tiny_spec(), n_coarse=4)
    with pytest.raises(StageError, match="no fine levels"):
        make_layout("fine", token_spec, 1.0)
    with pytest.raises(StageError, match="lacks"):
        make_layout("semantic", {"semantic_rate": 25.0}, 1.0)
    assert PAD == 0
