"""Aligned delay coarse layout: each step also reads the semantic and melody token of the frame it predicts."""
from dataclasses import replace

import pytest
import torch

from stages import Stage
from stages.delay_layouts import DRAW
from stages.errors import StageError
from stages.layout_registry import layout_from_spec, make_layout
from stages.sampling import generate_coarse, pick
from stages.token_spec import TokenSpec
from stages.vocab import MASK, PAD, SEP

from .synthetic import tiny_model_config, tiny_records, tiny_spec
from .test_delay_layout import _melody_records, _train


def _aligned(token_spec: TokenSpec | None = None, crop: float = 0.4, melody: bool = True):
    return make_layout("coarse", token_spec or tiny_spec(), crop, "delay", melody=melody, aligned=True)


def test_example_carries_each_frames_semantic_and_melody_token_as_inputs_without_loss():
    token_spec = tiny_spec()  # 25 Hz semantic, 75 Hz frames, 5 Hz melody, 2 coarse levels
    layout, plain = _aligned(token_spec), make_layout("coarse", token_spec, 0.4, "delay", melody=True)
    assert layout.aligned_streams == ["semantic", "melody"] and layout.streams == 4 and plain.streams == 2
    assert plain.vocab == layout.vocab  # a non-aligned stage's weights fit
    rec = tiny_records(1, 2.0, token_spec)[0]
    tokens, mask = layout.example(rec, torch.Generator().manual_seed(4))
    base, base_mask = plain.example(rec, torch.Generator().manual_seed(4))
    assert torch.equal(tokens[:, :2], base) and torch.equal(mask[:, :2], base_mask) and not mask[:, 2:].any()
    sep = int((tokens[:, 0] == SEP).nonzero()[0])
    assert (tokens[:sep, 2:] == PAD).all()
    n_sem, n_cond = token_spec.seconds_to(0.4, "semantic"), token_spec.cond_levels  # prefix: cond, melody, semantic
    semantic = layout.vocab.decode("semantic", base[sep - n_sem:sep, 0])
    melody = layout.vocab.decode("melody", base[n_cond:n_cond + layout.melody_length(n_sem), 0])
    rows = tokens[sep:, 2:]  # row r: the inputs of the step predicting frame r
    for r in range(rows.shape[0]):
        if r < 30:
            assert int(layout.vocab.decode("semantic", rows[r, 0:1])) == int(semantic[r // 3])
            assert int(layout.vocab.decode("melody", rows[r, 1:2])) == int(melody[r // 15])
        else:
            assert rows[r].tolist() == [PAD, PAD]
    dropped, _ = layout.example(rec, torch.Generator().manual_seed(4), melody_drop_prob=1.0)
    assert (dropped[sep:sep + 30, 3] == MASK).all()


def test_bad_uses_are_refused_and_the_switch_survives_save_and_load(tmp_path):
    for stage, kind in (("coarse", "flat"), ("fine", "delay"), ("semantic", "flat")):
        with pytest.raises(StageError, match="aligned conditioning is for the delay coarse layout"):
            make_layout(stage, tiny_spec(), 0.4, kind, aligned=True)
    torch.manual_seed(0)
    st = Stage.build(tiny_model_config(), _aligned())
    st.save(tmp_path / "model.pt")
    back = Stage.load(tmp_path / "model.pt")
    assert back.layout.aligned and back.model.streams == 4
    x = st.layout.example(tiny_records(1, 1.0, tiny_spec())[0])[0][None]
    st.model.eval()
    torch.testing.assert_close(back.model(x), st.model(x))
    spec = st.layout.spec()
    del spec["aligned"]
    assert not layout_from_spec(spec).aligned


def _reference(model, layout, cond, sem, melody, n, scale, gen, melody_scale=0.0):
    """Full recompute of every step, no cache; the unconditional rows read MASK melody and MASK cond, the text rows
    (melody guidance) MASK melody only."""
    grid = layout.draw_grid(None, n, cond.shape[0])
    seq, grid_c = layout.attach_aligned(layout.prefix(cond, sem, melody=melody), grid, sem, melody)
    useq, grid_u = layout.attach_aligned(layout.prefix(cond, sem, uncond=True, melody=melody), grid, sem, melody, True)
    tseq, grid_t = layout.attach_aligned(layout.prefix(cond, sem), grid, sem, None)
    lo, hi = layout.head_range()
    s, bins = layout.target_levels, (hi - lo) // layout.target_levels

    def logp(rows):
        return model(rows)[:, -1, lo:hi].float().view(-1, s, bins).log_softmax(-1)

    for j in range(grid.shape[1]):
        scores = model(seq)[:, -1, lo:hi].float().view(-1, s, bins)
        if scale != 1.0 or melody_scale:
            lc, lu = scores.log_softmax(-1), logp(useq)
            scores = lu + scale * (lc - lu) + (melody_scale * (lc - logp(tseq)) if melody_scale else 0.0)
        picked = pick(scores.reshape(-1, bins), 1.0, 5, 0.0, gen).view(-1, s) + lo + bins * torch.arange(s)
        for g in (grid_c, grid_u, grid_t):
            g[:, j, :s] = torch.where(g[:, j, :s] == DRAW, picked, g[:, j, :s])
        seq, useq = torch.cat([seq, grid_c[:, j:j + 1]], 1), torch.cat([useq, grid_u[:, j:j + 1]], 1)
        tseq = torch.cat([tseq, grid_t[:, j:j + 1]], 1)
    return layout.unflatten(grid_c)


@pytest.mark.parametrize("scale, melody_scale", [(1.0, 0.0), (2.5, 0.0), (2.5, 2.0), (1.0, 3.0)])
def test_cached_sampling_equals_full_recompute(scale, melody_scale):
    torch.manual_seed(0)
    st = Stage.build(tiny_model_config(), _aligned())
    model, layout = st.model.eval(), st.layout
    cond = torch.tensor([[0, 1, 2], [4, 3, 2]])
    sem = torch.randint(0, 16, (2, 4), generator=torch.Generator().manual_seed(3))
    melody = torch.tensor([[3], [7]])
    got = generate_coarse(model, layout, cond, sem, 10, melody=melody, cfg_scale=scale, melody_scale=melody_scale,
                          temperature=1.0, top_k=5, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        want = _reference(model, layout, cond, sem, melody, 10, scale, torch.Generator().manual_seed(11), melody_scale)
    assert got.shape == (2, 2, 10) and torch.equal(got, want)


def test_continuation_from_a_runs_own_frames_reproduces_that_run():
    torch.manual_seed(2)
    st = Stage.build(tiny_model_config(), _aligned())
    cond, sem = torch.tensor([[1, 2, 3]]), torch.randint(0, 16, (1, 4), generator=torch.Generator().manual_seed(5))
    melody = torch.tensor([[5]])
    whole = generate_coarse(st.model, st.layout, cond, sem, 10, melody=melody, temperature=0.0, cfg_scale=2.0)
    for f1 in (1, 4, 9):
        rest = generate_coarse(st.model, st.layout, cond, sem, 10 - f1, prefix=whole[:, :, :f1], melody=melody,
                               temperature=0.0, cfg_scale=2.0)
        assert torch.equal(rest, whole[:, :, f1:])


def _follows(aligned: bool) -> tuple[float, float]:
    """Share of frames right with and without a 25 Hz melody (a note every 3 frames) after 200 steps on codes only
    the melody predicts."""
    token_spec = replace(tiny_spec(), melody_rate=25.0, cond_bins=1)
    torch.manual_seed(0)
    st = Stage.build(tiny_model_config(), make_layout("coarse", token_spec, 0.4, "delay", melody=True, aligned=aligned))
    _train(st, _melody_records(token_spec, 32, 2.0, seed=0), 200)
    test = _melody_records(token_spec, 8, 0.4, seed=1)
    melody = torch.stack([r["melody"] for r in test])
    sem, cond = torch.zeros((8, 10), dtype=torch.long), torch.zeros((8, 3), dtype=torch.long)
    want = torch.stack([r["acoustic"][:2] for r in test])
    got = generate_coarse(st.model, st.layout, cond, sem, 30, melody=melody, temperature=0.0)
    blind = generate_coarse(st.model, st.layout, cond, sem, 30, melody=None, temperature=0.0)
    return float((got == want).float().mean()), float((blind == want).float().mean())


def test_aligned_coarse_stage_follows_a_note_per_semantic_token_where_the_prefix_alone_does_not_yet():
    followed, guessed = _follows(aligned=True)
    assert followed > 0.9 and guessed < 0.5, (followed, guessed)
    prefix_only, _ = _follows(aligned=False)
    assert prefix_only < 0.6, prefix_only


def test_long_form_windows_join_with_aligned_streams():
    """Greedy sliding windows over 1 s: the first one equals that window generated alone, and every frame is made."""
    from stages.continuation import windowed_coarse

    torch.manual_seed(3)
    st = Stage.build(tiny_model_config(), _aligned())
    cond = [torch.tensor([[1, 2, 3]])]
    semantic = torch.randint(0, 16, (1, 25), generator=torch.Generator().manual_seed(6))
    melody = torch.randint(0, 12, (1, 5), generator=torch.Generator().manual_seed(7))
    out = windowed_coarse(st.model, st.layout, cond, semantic, 1.0, 1.0, melody=melody, temperature=0.0, cfg_scale=2.0)
    first = generate_coarse(st.model, st.layout, cond[0], semantic[:, :10], 30, melody=melody[:, :2], temperature=0.0,
                            cfg_scale=2.0)
    assert out.shape == (1, 2, 75) and torch.equal(out[:, :, :30], first)
