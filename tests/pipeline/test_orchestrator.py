"""End-to-end generation on tiny random models: shapes, reproducibility, long form, story mode, outputs."""
import json

import pytest
import torch

from pipeline.cli import main
from pipeline.errors import UserError
from pipeline.orchestrator import Strata

from .tiny_run import build_tiny_run


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_run(tmp_path_factory.mktemp("runs") / "tiny")


def test_generate_shapes_and_reproducible(tiny):
    strata = Strata.from_run(tiny)
    a = strata.generate(["calm piano", "fast drums"], 0.5, num_samples=2, seed=3)
    assert a.audio.shape == (4, int(0.5 * strata.sample_rate))
    assert torch.isfinite(a.audio).all()
    b = strata.generate(["calm piano", "fast drums"], 0.5, num_samples=2, seed=3)
    assert torch.equal(a.audio, b.audio)
    c = strata.generate(["calm piano", "fast drums"], 0.5, num_samples=2, seed=4)
    assert not torch.equal(a.tokens["semantic"], c.tokens["semantic"])
    assert set(a.timings) >= {"conditioning", "semantic", "coarse", "fine", "decode"}


def test_long_generation_crosses_every_window(tiny):
    strata = Strata.from_run(tiny)
    seconds = 5.0  # semantic window 2 s, coarse 0.4 s, fine 0.2 s
    gen = strata.generate("slow strings", seconds, seed=0)
    layout = strata.stages["semantic"].layout
    assert gen.tokens["semantic"].shape[1] == int(seconds * layout.token_spec.semantic_rate)
    frames = int(seconds * layout.token_spec.acoustic_rate)
    assert gen.tokens["coarse"].shape[2] == frames and gen.tokens["fine"].shape[2] == frames
    assert gen.audio.shape[1] == int(seconds * strata.sample_rate)


def test_story_mode_segments_and_duration(tiny):
    strata = Strata.from_run(tiny)
    texts = ["a calm piano", "a fast fiddle reel", "a slow organ"]
    gen = strata.generate(texts, story=True, segment_seconds=1.0, seed=1)
    assert gen.audio.shape == (1, 3 * strata.sample_rate)
    assert gen.settings["story"] and gen.prompts == texts


def test_story_conditioning_changes_at_boundaries(tiny, monkeypatch):
    strata = Strata.from_run(tiny)
    seen = []
    import stages.sampling as sampling

    real = sampling.generate_semantic

    def spy(model, layout, cond, n_tokens, **kw):
        seen.append((cond[0].tolist(), n_tokens))
        return real(model, layout, cond, n_tokens, **kw)

    monkeypatch.setattr(sampling, "generate_semantic", spy)
    strata.generate(["one", "two"], story=True, segment_seconds=1.0, seed=0)
    per_text = strata.condition.text_tokens(["one", "two"]).tolist()
    assert [c for c, _ in seen] == [per_text[0], per_text[1]]
    assert sum(n for _, n in seen) == 50


def test_continuation_uses_prompt_audio(tiny, monkeypatch):
    strata = Strata.from_run(tiny)

    class FakeSemantic:
        def tokens(self, wav, sample_rate):
            return torch.zeros((1, int(wav.shape[-1] / sample_rate * 25)), dtype=torch.long)

    monkeypatch.setattr(strata, "semantic_tokenizer", lambda: FakeSemantic())
    prompt = 0.1 * torch.sin(torch.arange(strata.sample_rate) * 0.05)
    gen = strata.generate("continue", 1.0, prompt_audio=prompt, seed=0)
    assert gen.audio.shape == (1, strata.sample_rate)
    assert gen.settings["prompt_audio"]


def test_missing_stage_is_a_user_error(tmp_path):
    run = build_tiny_run(tmp_path / "r")
    run.stage_model("coarse").unlink()
    with pytest.raises(UserError, match="strata train stage --stage coarse"):
        Strata.from_run(run)


def test_melody_without_melody_tokens_is_a_user_error(tiny, tmp_path):
    strata = Strata.from_run(tiny)
    with pytest.raises(UserError, match="without melody"):
        strata.generate("x", 0.5, melody=torch.randn(1000))


def test_cli_generate_writes_wav_sidecar_and_png(tiny, tmp_path, capsys):
    out = tmp_path / "gen" / "x.wav"
    rc = main(["generate", "calm piano", "--run", str(tiny.root), "--seconds", "0.5", "--out", str(out),
               "--num-samples", "2", "--seed", "7", "--spectrogram", "--temperature", "1.0", "0.9", "0.5"])
    assert rc == 0
    wavs = sorted(out.parent.glob("*.wav"))
    assert [p.name for p in wavs] == ["x_000.wav", "x_001.wav"]
    side = json.loads(out.with_name("x_000.json").read_text())
    assert side["seed"] == 7 and side["prompt"] == "calm piano"
    assert side["settings"]["sampling"]["coarse"]["temperature"] == 0.9
    assert "stages/semantic/model.pt" in side["checkpoints"] and "semantic" in side["timings_s"]
    assert out.with_name("x_001.png").stat().st_size > 1000


def test_cli_missing_melody_file_leaves_no_output(tiny, tmp_path, capsys):
    out = tmp_path / "m.wav"
    rc = main(["generate", "calm", "--run", str(tiny.root), "--seconds", "0.5", "--out", str(out), "--melody", str(tmp_path / "nope.wav")])
    assert rc == 2 and not out.exists()
    assert capsys.readouterr().err.count("\n") == 1


def test_set_generation_params_are_what_generate_uses(tiny):
    strata = Strata.from_run(tiny)
    stored = strata.set_generation_params(seconds=0.5, num_samples=2, seed=3, temperature={"fine": 0.0})
    assert strata.generation_params == stored and stored.sampling["fine"].temperature == 0.0
    a = strata.generate("calm piano")
    b = Strata.from_run(tiny).generate("calm piano", 0.5, num_samples=2, seed=3, temperature={"fine": 0.0})
    assert a.audio.shape == (2, int(0.5 * strata.sample_rate)) and torch.equal(a.audio, b.audio)
    assert not torch.equal(strata.generate("calm piano", seed=4).tokens["semantic"], a.tokens["semantic"])
    with pytest.raises(UserError, match="--top-p"):
        strata.set_generation_params(top_p={"coarse": 2.0})
    assert strata.generation_params == stored


def test_generate_downstream_samples_as_generate_does(tiny, monkeypatch):
    strata = Strata.from_run(tiny)
    semantic = strata.generate("calm piano", 0.5, seed=1).tokens["semantic"]
    cond = strata.condition.text_tokens(["calm piano"])
    decoded: list[torch.Tensor] = []  # the codes each call decodes (the tiny codec's audio is near silent)
    monkeypatch.setattr(strata.codec, "decode", lambda codes: decoded.append(codes) or torch.zeros(codes.shape[0], 9))

    def codes(seed: int) -> torch.Tensor:
        strata.generate_downstream(cond, 0.5, semantic=semantic, seed=seed)
        return decoded[-1]

    assert not torch.equal(codes(0), codes(1))  # the profile's temperatures sample
    strata.set_generation_params(temperature={"coarse": 0.0, "fine": 0.0})
    assert torch.equal(codes(0), codes(1))  # greedy coarse and fine: the seed no longer matters

    text = strata.generate("calm piano", 0.5, seed=2)  # with no tokens given, all three stages run as in generate
    assert torch.equal(torch.cat([text.tokens["coarse"], text.tokens["fine"]], 1), decoded[-1])
    strata.generate_downstream(cond, 0.5, seed=2)
    assert torch.equal(torch.cat([text.tokens["coarse"], text.tokens["fine"]], 1), decoded[-1])


def test_cli_generate_loads_the_profile_once(tiny, tmp_path, monkeypatch, capsys):
    from pipeline.run_dir import RunDir

    loads = []
    original = RunDir.load_profile
    monkeypatch.setattr(RunDir, "load_profile", lambda self, *a, **k: loads.append(1) or original(self, *a, **k))
    rc = main(["generate", "calm piano", "--run", str(tiny.root), "--seconds", "0.3", "--out", str(tmp_path / "o.wav")])
    assert rc == 0 and (tmp_path / "o.wav").is_file() and len(loads) == 1


def test_semantic_candidates_rank_every_semantic_window(tiny, monkeypatch):
    import stages.sampling as sampling

    ranked: list[int] = []
    real = sampling.text_gain

    def spy(model, head, uncond, target, vocab_range):
        ranked.append(head.shape[0])
        return real(model, head, uncond, target, vocab_range)

    monkeypatch.setattr(sampling, "text_gain", spy)
    strata = Strata.from_run(tiny, ["generate.semantic_candidates=3"])
    gen = strata.generate(["calm piano", "fast drums"], 5.0, seed=0)  # 5 s crosses the 2 s semantic window
    assert gen.settings["semantic_candidates"] == 3 and gen.tokens["semantic"].shape[0] == 2
    assert len(ranked) >= 3 and set(ranked) == {2 * 3}
    ranked.clear()
    assert strata.generate("calm piano", 1.0, seed=0, semantic_candidates=1).settings["semantic_candidates"] == 1
    assert ranked == []
