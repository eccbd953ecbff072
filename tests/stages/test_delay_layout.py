"""Delay layout beside the flat one: pattern, round trips, target masks, cached sampling, continuation, save/load."""
from dataclasses import replace

import pytest
import torch

from stages import Stage
from stages.delay_layouts import DRAW
from stages.delay_pattern import DelayPattern
from stages.errors import StageError
from stages.layout_registry import layout_from_spec, make_layout
from stages.sampling import generate_coarse, generate_fine, pick
from stages.token_spec import TokenSpec
from stages.transformer import Transformer
from stages.vocab import PAD, SEP

from .synthetic import tiny_model_config, tiny_records, tiny_spec

KINDS = ["flat", "delay"]


def _stage(name: str, kind: str, crop: float = 0.4, seed: int = 0) -> Stage:
    torch.manual_seed(seed)
    return Stage.build(tiny_model_config(), make_layout(name, tiny_spec(), crop, kind))


def _codes(levels: int, frames: int, batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, tiny_spec().codec_bins, (batch, levels, frames), generator=torch.Generator().manual_seed(seed))


def test_pattern_places_level_q_of_frame_t_at_step_t_plus_q():
    pattern = DelayPattern(levels=3, frames=4)
    codes = torch.tensor([[[10, 11, 12, 13], [20, 21, 22, 23], [30, 31, 32, 33]]])
    grid = pattern.apply(codes, fill=-9)
    assert grid.shape == (1, 6, 3)
    assert grid[0].tolist() == [[10, -9, -9], [11, 20, -9], [12, 21, 30], [13, 22, 31], [-9, 23, 32], [-9, -9, 33]]
    assert torch.equal(pattern.revert(grid), codes)
    assert int(pattern.valid.sum()) == 12 and not pattern.valid[0, 1] and pattern.valid[5, 2]
    assert DelayPattern(4, 0).steps == 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stage", ["coarse", "fine"])
def test_codes_round_trip_through_the_layout_sequence(stage, kind):
    layout = make_layout(stage, tiny_spec(), 1.0, kind)
    raw = _codes(layout.target_levels, 9, batch=3)
    seq = layout.flatten(raw)
    assert seq.dim() == (2 if kind == "flat" else 3)
    assert torch.equal(layout.unflatten(seq), raw)
    assert seq.shape[1] == (9 * 2 if kind == "flat" else 9 + 2 - 1)


@pytest.mark.parametrize("stage", ["coarse", "fine"])
def test_delay_example_has_empty_cells_without_loss_and_levels_in_their_ranges(stage):
    token_spec = tiny_spec()
    layout = make_layout(stage, token_spec, 0.4, "delay")
    tokens, mask = layout.example(tiny_records(1, 2.0, token_spec)[0], torch.Generator().manual_seed(0))
    assert tokens.shape == mask.shape and tokens.shape[1] == layout.streams == 2
    sep = int((tokens[:, 0] == SEP).nonzero()[0])
    head, target, target_mask = tokens[: sep + 1], tokens[sep + 1:], mask[sep + 1:]
    assert not mask[: sep + 1].any()
    frames = 30
    assert target.shape[0] == layout.steps(frames) == frames + 1
    assert torch.equal(target_mask, target != PAD) and int(target_mask.sum()) == frames * 2
    assert torch.equal(target_mask, DelayPattern(2, frames).valid)
    for q in range(2):
        lo, hi = layout.vocab.span(layout.target, q)
        cells = target[:, q][target_mask[:, q]]
        assert bool(((cells >= lo) & (cells < hi)).all())
    if stage == "fine":  # one prefix step per coarse frame, its levels as streams
        assert sep == frames and bool((head[:frames] != PAD).all())
    else:
        assert bool((head[:, 1] == PAD).all())


def _reference_flat(model, layout, head, uncond, n, scale, gen, temperature=1.0, top_k=0):
    """Full recompute of every token, no cache."""
    seq, useq = head, uncond
    for i in range(n * layout.target_levels):
        lo, hi = layout.target_span(i)
        scores = model(seq)[:, -1, lo:hi].float()
        if scale != 1.0:
            lc, lu = scores.log_softmax(-1), model(useq)[:, -1, lo:hi].float().log_softmax(-1)
            scores = lu + scale * (lc - lu)
        tok = pick(scores, temperature, top_k, 0.0, gen) + lo
        seq, useq = torch.cat([seq, tok[:, None]], 1), torch.cat([useq, tok[:, None]], 1)
    return layout.unflatten(seq[:, head.shape[1]:])


def _reference_delay(model, layout, head, uncond, n, scale, gen, temperature=1.0, top_k=0):
    """Full recompute of every step, no cache."""
    grid = layout.draw_grid(None, n, head.shape[0])
    lo, hi = layout.head_range()
    s, bins = layout.target_levels, (hi - lo) // layout.target_levels
    seq, useq = head, uncond
    for j in range(grid.shape[1]):
        scores = model(seq)[:, -1, lo:hi].float().view(-1, s, bins)
        if scale != 1.0:
            lc, lu = scores.log_softmax(-1), model(useq)[:, -1, lo:hi].float().view(-1, s, bins).log_softmax(-1)
            scores = lu + scale * (lc - lu)
        picked = pick(scores.reshape(-1, bins), temperature, top_k, 0.0, gen).view(-1, s) + lo + bins * torch.arange(s)
        grid[:, j, :s] = torch.where(grid[:, j, :s] == DRAW, picked, grid[:, j, :s])
        seq, useq = torch.cat([seq, grid[:, j:j + 1]], 1), torch.cat([useq, grid[:, j:j + 1]], 1)
    return layout.unflatten(grid)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scale", [1.0, 2.5])
def test_cached_sampling_equals_full_recompute(kind, scale):
    st = _stage("coarse", kind)
    model, layout = st.model.eval(), st.layout
    cond = torch.tensor([[0, 1, 2], [4, 3, 2]])
    sem = torch.randint(0, 16, (2, 4), generator=torch.Generator().manual_seed(3))
    n = 7
    got = generate_coarse(model, layout, cond, sem, n, cfg_scale=scale, temperature=1.0, top_k=5,
                          generator=torch.Generator().manual_seed(11))
    reference = _reference_flat if kind == "flat" else _reference_delay
    with torch.no_grad():
        want = reference(model, layout, layout.prefix(cond, sem), layout.prefix(cond, sem, uncond=True), n, scale,
                         torch.Generator().manual_seed(11), temperature=1.0, top_k=5)
    assert got.shape == (2, 2, n) and torch.equal(got, want)


@pytest.mark.parametrize("kind", KINDS)
def test_continuation_from_a_runs_own_frames_reproduces_that_run(kind):
    """Greedy: continuing the first F1 frames of a run gives the rest of that run (the prefix is teacher-forced)."""
    st = _stage("coarse", kind, seed=2)
    cond, sem = torch.tensor([[1, 2, 3]]), torch.randint(0, 16, (1, 4), generator=torch.Generator().manual_seed(5))
    whole = generate_coarse(st.model, st.layout, cond, sem, 10, temperature=0.0, cfg_scale=2.0)
    for f1 in (1, 4, 9):
        rest = generate_coarse(st.model, st.layout, cond, sem, 10 - f1, prefix=whole[:, :, :f1], temperature=0.0,
                               cfg_scale=2.0)
        assert torch.equal(rest, whole[:, :, f1:])
    if kind == "flat":  # flat windows are causal per frame: a shorter run is a prefix of a longer one
        assert torch.equal(generate_coarse(st.model, st.layout, cond, sem, 4, temperature=0.0, cfg_scale=2.0),
                           whole[:, :, :4])


def test_delay_sampling_takes_one_forward_per_step():
    st = _stage("coarse", "delay")
    calls = []
    real = st.model.forward

    def spy(tokens, *a, **k):
        calls.append(tuple(tokens.shape))
        return real(tokens, *a, **k)

    st.model.forward = spy
    cond, sem = torch.tensor([[0, 1, 2]]), torch.zeros((1, 4), dtype=torch.long)
    generate_coarse(st.model, st.layout, cond, sem, 6, prefix=_codes(2, 3, batch=1), cfg_scale=3.0,
                    generator=torch.Generator().manual_seed(0))
    # prefill: 3 cond + 4 semantic + SEP + the 3 fully known steps of the prefix frames; then 6 + 2 - 1 - 1 steps
    assert calls[0] == (2, 3 + 4 + 1 + 3, 2) and calls[1:] == [(2, 1, 2)] * 6


def test_fine_delay_generates_every_window_frame_in_range():
    st = _stage("fine", "delay", crop=0.1)
    out = generate_fine(st.model, st.layout, _codes(2, 19), generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 2, 19) and int(out.min()) >= 0 and int(out.max()) < 8


def test_steps_per_second_of_audio():
    token_spec = replace(tiny_spec(), n_q=8, n_coarse=4)
    assert make_layout("coarse", token_spec, 1.0, "flat").steps_per_second() == 300
    assert make_layout("fine", token_spec, 1.0, "flat").steps_per_second() == 300
    assert make_layout("coarse", token_spec, 1.0, "delay").steps_per_second() == 75 + 3
    assert make_layout("fine", token_spec, 1.0, "delay").steps_per_second() == 75 + 3
    assert make_layout("coarse", token_spec, 2.0, "delay").steps_per_second() == 75 + 1.5
    assert make_layout("semantic", token_spec, 10.0).steps_per_second() == 25


def test_bad_layouts_are_one_line_stage_errors():
    with pytest.raises(StageError, match="unknown coarse layout 'diagonal'"):
        make_layout("coarse", tiny_spec(), 1.0, "diagonal")
    with pytest.raises(StageError, match="semantic stage .* must be flat"):
        make_layout("semantic", tiny_spec(), 1.0, "delay")


def test_delay_stage_save_load_round_trip_and_old_files_load_flat(tmp_path):
    st = _stage("coarse", "delay")
    st.save(tmp_path / "model.pt")
    back = Stage.load(tmp_path / "model.pt")
    assert back.layout.kind == "delay" and back.model.streams == 2 and back.layout.spec() == st.layout.spec()
    x = st.layout.example(tiny_records(1, 1.0, tiny_spec())[0])[0][None]
    st.model.eval()
    torch.testing.assert_close(back.model(x), st.model(x))
    old = _stage("fine", "flat").to_dict()
    del old["layout"]["layout"]
    assert layout_from_spec(old["layout"]).kind == "flat" and Stage.from_dict(old).model.streams == 1


def test_multi_stream_embedding_ignores_empty_cells_and_keeps_parameters():
    torch.manual_seed(0)
    one = Transformer(tiny_model_config(), 30)
    two = Transformer(tiny_model_config(), 30, streams=2)
    two.load_state_dict(one.state_dict())
    one.eval(), two.eval()
    seq = torch.tensor([[5, 7, 9]])
    torch.testing.assert_close(two(torch.stack([seq, torch.full_like(seq, PAD)], -1)), one(seq))
    with pytest.raises(ValueError, match="2-stream"):
        two(seq)


def _toy_records(token_spec: TokenSpec, n: int, seconds: float) -> list[dict]:
    """Level q at acoustic frame t is (t + q + phase) mod bins; the semantic tokens carry the phase."""
    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(n):
        phase = int(torch.randint(0, 64, (1,), generator=g))
        t = torch.arange(int(seconds * token_spec.acoustic_rate)) + phase
        acoustic = torch.stack([(t + q) % token_spec.codec_bins for q in range(token_spec.n_q)])
        sem = (torch.arange(int(seconds * token_spec.semantic_rate)) * 3 + phase) % token_spec.semantic_bins
        out.append({"id": f"toy{i}", "cond": torch.zeros(token_spec.cond_levels, dtype=torch.long), "semantic": sem,
                    "acoustic": acoustic})
    return out


def _train(stage: Stage, records: list[dict], steps: int) -> None:
    from stages.batches import lm_loss, sample_batch

    opt = torch.optim.AdamW(stage.model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    stage.model.train()
    for _ in range(steps):
        tokens, mask = sample_batch(stage.layout, records, 8, gen)
        loss = lm_loss(stage.model, tokens, mask, stage.layout)
        opt.zero_grad()
        loss.backward()
        opt.step()
    stage.model.eval()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["coarse", "fine"])
def test_tiny_model_learns_a_synthetic_pattern(name, kind):
    token_spec = replace(tiny_spec(melody=False), cond_bins=1)
    torch.manual_seed(0)
    st = Stage.build(tiny_model_config(), make_layout(name, token_spec, 0.2, kind))
    records = _toy_records(token_spec, 16, 1.0)
    _train(st, records, 250)
    test = _toy_records(token_spec, 20, 1.0)[-4:]
    codes = torch.stack([r["acoustic"][:, :15] for r in test])
    if name == "coarse":
        cond = torch.zeros((4, 3), dtype=torch.long)
        sem = torch.stack([r["semantic"][:5] for r in test])
        got = generate_coarse(st.model, st.layout, cond, sem, 13, prefix=codes[:, :2, :2], temperature=0.0)
        want = codes[:, :2, 2:]
    else:
        got = generate_fine(st.model, st.layout, codes[:, :2], temperature=0.0)
        want = codes[:, 2:]
    accuracy = float((got == want).float().mean())
    assert accuracy > 0.9, accuracy


def _melody_records(token_spec: TokenSpec, n: int, seconds: float, seed: int) -> list[dict]:
    """Codes that only the melody predicts: level q at frame t is 2 * melody[t // 15] + q (mod bins); the semantic
    tokens are constant."""
    g = torch.Generator().manual_seed(seed)
    per = int(token_spec.acoustic_rate / token_spec.melody_rate)
    out = []
    for i in range(n):
        melody = torch.randint(0, token_spec.melody_bins, (int(seconds * token_spec.melody_rate),), generator=g)
        held = melody.repeat_interleave(per)
        acoustic = torch.stack([(2 * held + q) % token_spec.codec_bins for q in range(token_spec.n_q)])
        out.append({"id": f"mel{i}", "cond": torch.zeros(token_spec.cond_levels, dtype=torch.long), "melody": melody,
                    "semantic": torch.zeros(int(seconds * token_spec.semantic_rate), dtype=torch.long),
                    "acoustic": acoustic})
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_coarse_stage_with_melody_follows_the_melody_and_without_it_cannot(kind):
    token_spec = replace(tiny_spec(melody=True), cond_bins=1)
    torch.manual_seed(0)
    st = Stage.build(tiny_model_config(), make_layout("coarse", token_spec, 0.4, kind, melody=True))
    assert layout_from_spec(st.layout.spec()).vocab == st.layout.vocab
    _train(st, _melody_records(token_spec, 64, 2.0, seed=0), 500)
    test = _melody_records(token_spec, 8, 0.4, seed=1)
    melody = torch.stack([r["melody"] for r in test])
    sem = torch.zeros((8, 10), dtype=torch.long)
    want = torch.stack([r["acoustic"][:2] for r in test])
    cond = torch.zeros((8, 3), dtype=torch.long)
    got = generate_coarse(st.model, st.layout, cond, sem, 30, melody=melody, temperature=0.0)
    blind = generate_coarse(st.model, st.layout, cond, sem, 30, melody=None, temperature=0.0)
    followed, guessed = float((got == want).float().mean()), float((blind == want).float().mean())
    # From the prefix alone each frame must find its melody token at a distance that moves along the window; on this
    # 4-layer toy the delay layout gets 0.85-1.00 of the frames depending on the CPU's float rounding (AMD EPYC:
    # 0.875, a few notes of two clips wrong), so the bar is "mostly follows, and cannot without". The aligned layout,
    # which reads each frame's melody token in its own step, follows exactly (test_aligned_layout.py).
    assert followed > 0.8 and guessed < 0.5, (followed, guessed)


def test_only_the_coarse_stage_takes_a_melody_switch_and_old_files_have_none():
    token_spec = tiny_spec(melody=True)
    plain, with_melody = make_layout("coarse", token_spec, 0.4), make_layout("coarse", token_spec, 0.4, melody=True)
    assert "melody" not in plain.vocab and "melody" in with_melody.vocab
    spec = with_melody.spec()
    assert layout_from_spec(spec).has_melody
    del spec["melody"]
    assert not layout_from_spec(spec).has_melody
    with pytest.raises(StageError, match="fine stage reads no melody"):
        make_layout("fine", token_spec, 0.4, melody=True)
    rec = tiny_records(1, 1.0, token_spec)[0]
    tokens, _ = with_melody.example(rec, torch.Generator().manual_seed(0), melody_drop_prob=1.0)
    lo, hi = with_melody.vocab.span("melody", 0)
    assert not ((tokens >= lo) & (tokens < hi)).any()
    tokens, _ = with_melody.example(rec, None)
    assert ((tokens >= lo) & (tokens < hi)).sum() == with_melody.melody_length(10)
