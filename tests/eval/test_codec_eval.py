"""Codec evaluation: metrics, held-out selection, report files, learning-curve bookkeeping."""
from __future__ import annotations

import json
import math

import torch

from data_prep.codec import CodecTokenizer
from data_prep.codec.codebooks import kmeans_init_
from eval.codec_eval import EvalClip, evaluate, select_clips, si_sdr, write_report
from tests.data_prep.codec_helpers import tiny_config, tones


def _tokenizer() -> CodecTokenizer:
    torch.manual_seed(0)
    tok = CodecTokenizer.from_config(tiny_config())
    with torch.no_grad():
        emb = tok.model.encoder(torch.stack(tones(3, 0.5))[:, None])
    kmeans_init_(tok.model, emb.transpose(1, 2).reshape(-1, emb.shape[1]), iters=2, generator=torch.Generator().manual_seed(0))
    return tok


def test_si_sdr_is_scale_invariant_and_drops_with_noise():
    ref = tones(1, 0.5)[0]
    assert si_sdr(ref, 0.5 * ref) > 60
    noisy = ref + 0.1 * torch.randn(ref.shape, generator=torch.Generator().manual_seed(0))
    assert 0 < si_sdr(ref, noisy) < 30


def test_select_clips_prefers_held_out_solo_and_spreads_instruments():
    rows = [
        {"id": "t", "split": "train", "attributes": {"instruments": ["violin"]}},
        {"id": "a", "split": "valid", "attributes": {"instruments": ["violin", "cello"]}},
        {"id": "b", "split": "test", "attributes": {"instruments": ["flute"]}},
        {"id": "c", "split": "test", "attributes": {"instruments": ["flute"]}},
        {"id": "d", "split": "valid", "attributes": {"instruments": ["oboe"], "drums": True}},
        {"id": "e", "split": "valid", "attributes": {"instruments": ["oboe"]}},
    ]
    picked = [r["id"] for r in select_clips(rows, 3)]
    assert picked == ["b", "e", "c"]
    assert "t" not in [r["id"] for r in select_clips(rows, 10)]


def test_evaluate_reports_full_and_coarse_metrics_with_pitch(tmp_path):
    tok = _tokenizer()
    clips = [EvalClip(f"c{i}", wav, "tone") for i, wav in enumerate(tones(2, 0.6, seed=3))]
    metrics = evaluate(tok, clips, with_pitch=True)
    s = metrics["summary"]
    for key in ("si_sdr_full", "si_sdr_coarse", "mel_full", "mel_coarse", "pitch_full", "pitch_coarse"):
        assert key in s
    assert s["mel_full"] > 0 and 0.0 <= s["pitch_full"] <= 1.0
    assert len(metrics["perplexity_per_level"]) == tok.n_q
    assert all(p >= 1.0 for p in metrics["perplexity_per_level"])
    write_report(tmp_path, metrics, tok, clips, pngs=1)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["clips"] == 2 and (tmp_path / "metrics.md").read_text().startswith("# Codec evaluation")
    assert len(list(tmp_path.glob("*.png"))) == 1


def test_pitch_agreement_is_high_for_identity_and_low_for_silence():
    from eval.pitch import pitch_agreement, track_pitch

    wav = tones(1, 0.6, seed=4)[0]
    ref = track_pitch(wav, 24000)
    assert pitch_agreement(ref, track_pitch(wav.clone(), 24000)) > 0.9
    shifted = torch.nn.functional.interpolate(wav[None, None], scale_factor=0.5, mode="linear")[0, 0]
    shifted = torch.cat([shifted, shifted])[: wav.shape[0]]
    octave_up = pitch_agreement(ref, track_pitch(shifted, 24000))
    assert math.isnan(octave_up) or octave_up < 0.5


def test_monophonic_clips_get_their_own_pitch_summary(tmp_path):
    tok = _tokenizer()
    wavs = tones(2, 0.6, seed=5)
    clips = [EvalClip("m", wavs[0], "flute", voices=1), EvalClip("p", wavs[1], "piano", voices=4)]
    s = evaluate(tok, clips, with_pitch=True)["summary"]
    assert s["mono_clips"] == 1.0 and 0.0 <= s["pitch_full_mono"] <= 1.0
