"""Windowed continuation: sliding windows, story segments, and the semantic/melody tokens each coarse window reads."""
import pytest
import torch

from stages import sampling
from stages.continuation import (melody_from, pad_right, sliding_steps, story_segments, window_joins,
                                 windowed_coarse, windowed_semantic)
from stages.layout_registry import make_layout

from .synthetic import tiny_spec


def test_sliding_steps_cover_exactly_once():
    for total, window, ctx in [(10, 4, 0), (100, 16, 0), (7, 20, 0), (50, 10, 30), (1, 2, 0)]:
        steps = sliding_steps(total, window, first_context=ctx)
        assert steps[0].start == 0 and steps[-1].end == total
        assert all(a.end == b.start for a, b in zip(steps, steps[1:]))
        assert all(s.context + (s.end - s.start) <= max(2, window) for s in steps)


def test_story_segments_split_at_segment_seconds():
    conds = [torch.full((1, 3), i) for i in range(3)]
    got = story_segments(conds, 200, 1.0, tiny_spec(), "acoustic")
    assert [(a, b, int(c[0, 0])) for a, b, c in got] == [(0, 75, 0), (75, 150, 1), (150, 200, 2)]
    assert story_segments(conds[:1], 40, 1.0, tiny_spec(), "semantic")[0][:2] == (0, 40)


def test_pad_right_melody_from_and_window_joins():
    assert pad_right(torch.tensor([[1, 2, 3]]), 5).tolist() == [[1, 2, 3, 3, 3]]
    assert pad_right(torch.tensor([[1, 2, 3]]), 2).tolist() == [[1, 2]]
    assert melody_from(torch.arange(10)[None], tiny_spec(), 10).tolist() == [[2, 3, 4, 5, 6, 7, 8, 9]]
    coarse = make_layout("coarse", tiny_spec(), 0.4)  # 30-frame windows, 15 new frames after the first
    assert window_joins(coarse, 1.0) == pytest.approx([0.4, 0.6, 0.8])


def _spy_coarse(monkeypatch):
    calls = []

    def spy(model, layout, cond, semantic, n_frames, *, prefix=None, melody=None, **kw):
        calls.append({"sem": semantic[0].tolist(), "frames": n_frames, "melody": None if melody is None else melody[0].tolist(),
                      "context": 0 if prefix is None else prefix.shape[2]})
        return torch.zeros((cond.shape[0], layout.n_coarse, n_frames), dtype=torch.long)

    monkeypatch.setattr(sampling, "generate_coarse", spy)
    return calls


def test_each_coarse_window_reads_the_semantic_and_melody_tokens_of_its_time_span(monkeypatch):
    calls = _spy_coarse(monkeypatch)
    layout = make_layout("coarse", tiny_spec(), 0.4, melody=True)
    semantic = torch.arange(25)[None]  # 1 s: token i covers frames 3i..3i+2
    melody = torch.arange(5)[None]  # token j covers semantic tokens 5j..5j+4
    out = windowed_coarse(None, layout, [torch.zeros((1, 3), dtype=torch.long)], semantic, 1.0, 1.0, melody=melody)
    assert out.shape == (1, 2, 75)
    assert [(c["frames"], c["context"]) for c in calls] == [(30, 0), (15, 15), (15, 15), (15, 15)]
    starts = [0, 15, 30, 45]  # first frame of each window, context included
    for call, start in zip(calls, starts):
        assert call["sem"] == list(range(start // 3, start // 3 + 10))
        assert call["melody"] == list(range(round(start / 3 / 5), 5))


def test_coarse_after_a_prompt_reads_the_prompt_semantic_tokens_first(monkeypatch):
    calls = _spy_coarse(monkeypatch)
    layout = make_layout("coarse", tiny_spec(), 0.4)
    sem_prompt, semantic = torch.arange(10)[None], torch.arange(10, 30)[None]  # 0.2 s short of the frames
    prompt = torch.zeros((1, 2, 30), dtype=torch.long)  # 0.4 s of prompt frames = 10 semantic tokens
    out = windowed_coarse(None, layout, [torch.zeros((1, 3), dtype=torch.long)], semantic, 1.0, 1.0, prompt=prompt,
                          sem_prompt=sem_prompt)
    assert out.shape == (1, 2, 75) and calls[0]["context"] == 15
    assert calls[0]["sem"] == list(range(5, 15))  # window = last 15 prompt frames + 15 new ones
    assert calls[-1]["sem"] == [25, 26, 27, 28, 29, 29, 29, 29, 29, 29]  # past the semantic stream: last token repeated


def test_windowed_semantic_changes_cond_per_segment_and_windows_the_melody(monkeypatch):
    calls = []

    def spy(model, layout, cond, n_tokens, *, prefix=None, melody=None, **kw):
        calls.append((int(cond[0, 0]), n_tokens, 0 if prefix is None else prefix.shape[1], melody[0, 0].item()))
        return torch.zeros((cond.shape[0], n_tokens), dtype=torch.long)

    monkeypatch.setattr(sampling, "generate_semantic", spy)
    layout = make_layout("semantic", tiny_spec(), 0.8)  # 20-token windows
    conds = [torch.full((1, 3), i) for i in range(2)]
    out = windowed_semantic(None, layout, conds, 2.0, 1.0, melody=torch.arange(10)[None])
    assert out.shape == (1, 50)
    assert calls == [(0, 20, 0, 0), (0, 5, 10, 2), (1, 10, 10, 3), (1, 10, 10, 5), (1, 5, 10, 7)]
