"""The ablation ladder: the same held-out clips with one more part of the system replaced by the model on each row.

Reading down the rows shows which component loses what (instrument, drums, tempo, mode, melody, noise-likeness):
  real                       the clip itself
  codec_all                  codec round trip, every level
  codec_coarse               codec round trip, coarse levels only
  real_coarse_gen_fine       the clip's own coarse tokens, fine stage sampled
  real_semantic_audio_cond   the clip's own semantic tokens, coarse + fine sampled, conditioned on the clip's audio tokens
  real_semantic_text_cond    the same, conditioned on its caption's text tokens
  real_semantic_text_melody  the same, with the clip itself as the melody (when the coarse stage reads melody)
  generated                  full generation from the caption
  generated_own_melody       full generation from the caption with the clip itself as --melody (when the run has melody)
"""
from __future__ import annotations

import torch

from .orchestrator import Strata

LADDER_ROWS = ("real", "codec_all", "codec_coarse", "real_coarse_gen_fine", "real_semantic_audio_cond",
               "real_semantic_text_cond", "real_semantic_text_melody", "generated", "generated_own_melody")


def ladder_audio(strata: Strata, clips: torch.Tensor, captions: list[str], seconds: float, seed: int = 0,
                 cfg_scale: float | None = None, generated: torch.Tensor | None = None,
                 melody_scale: float | None = None) -> dict[str, torch.Tensor]:
    """Audio [B, T] per ladder row for real clips [B, T] and their captions; `generated` reuses an existing full generation.
    The rows given a melody use `melody_scale` (None: the run's)."""
    sr, n = strata.sample_rate, clips.shape[1]
    codes = strata.codec.encode(clips)
    coarse = codes[:, : strata.codec.n_coarse]
    rows = {"real": clips,
            "codec_all": strata.codec.decode(codes)[:, :n],
            "codec_coarse": strata.codec.decode(coarse)[:, :n]}
    text_cond = strata.condition.text_tokens(captions)
    rows["real_coarse_gen_fine"] = strata.generate_downstream(text_cond, seconds, coarse=coarse, seed=seed)
    semantic = strata.semantic_tokenizer().tokens(clips, sr)
    audio_cond = strata.condition.audio_tokens(clips, sr)
    rows["real_semantic_audio_cond"] = strata.generate_downstream(audio_cond, seconds, semantic=semantic, seed=seed,
                                                                  cfg_scale=cfg_scale)
    rows["real_semantic_text_cond"] = strata.generate_downstream(text_cond, seconds, semantic=semantic, seed=seed,
                                                                 cfg_scale=cfg_scale)
    if strata.stages["coarse"].layout.has_melody:
        rows["real_semantic_text_melody"] = strata.generate_downstream(text_cond, seconds, semantic=semantic, seed=seed,
                                                                       cfg_scale=cfg_scale, melody_scale=melody_scale,
                                                                       melody=clips)
    if generated is None:
        generated = strata.generate(captions, seconds, seed=seed, cfg_scale=cfg_scale).audio
    rows["generated"] = generated
    if strata.stages["semantic"].layout.has_melody:
        rows["generated_own_melody"] = strata.generate(captions, seconds, seed=seed, cfg_scale=cfg_scale, melody=clips,
                                                       melody_scale=melody_scale).audio
    return {name: fit_length(wav, n) for name, wav in rows.items()}


def fit_length(wav: torch.Tensor, length: int) -> torch.Tensor:
    """Rows of [B, T] trimmed or zero-padded to `length` samples, so every set is scored on the same span."""
    if wav.shape[1] >= length:
        return wav[:, :length].float()
    return torch.nn.functional.pad(wav.float(), (0, length - wav.shape[1]))
