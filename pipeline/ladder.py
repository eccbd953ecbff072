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
  generated_audio_cond       full generation conditioned on the clip's audio tokens instead of its caption's text
                             tokens: what the clip's audio conveys that its caption's tokens do not (words the
                             caption leaves out, or the text tower misses)
  generated_own_melody       full generation from the caption with the clip itself as --melody (when the run has melody)
"""
from __future__ import annotations

import functools
from typing import Callable, Collection

import torch

from .errors import UserError
from .orchestrator import Strata

LADDER_ROWS = ("real", "codec_all", "codec_coarse", "real_coarse_gen_fine", "real_semantic_audio_cond",
               "real_semantic_text_cond", "real_semantic_text_melody", "generated", "generated_audio_cond",
               "generated_own_melody")


def ladder_audio(strata: Strata, clips: torch.Tensor, captions: list[str], seconds: float, seed: int = 0,
                 cfg_scale: float | None = None, generated: torch.Tensor | None = None,
                 melody_scale: float | None = None, rows: Collection[str] | None = None) -> dict[str, torch.Tensor]:
    """Audio [B, T] per ladder row for real clips [B, T] and their captions; `generated` reuses an existing full generation.
    The rows given a melody use `melody_scale` (None: the run's). `rows` limits the work to those rows (None: all);
    every row is drawn from its own seed, so a row is the same audio whichever others are computed."""
    sr, n, n_coarse = strata.sample_rate, clips.shape[1], strata.codec.n_coarse
    codes = functools.cache(lambda: strata.codec.encode(clips))
    semantic = functools.cache(lambda: strata.semantic_tokenizer().tokens(clips, sr))
    text_cond = functools.cache(lambda: strata.condition.text_tokens(captions))
    audio_cond = functools.cache(lambda: strata.condition.audio_tokens(clips, sr))
    makers: dict[str, Callable[[], torch.Tensor]] = {
        "real": lambda: clips,
        "codec_all": lambda: strata.codec.decode(codes()),
        "codec_coarse": lambda: strata.codec.decode(codes()[:, :n_coarse]),
        "real_coarse_gen_fine": lambda: strata.generate_downstream(text_cond(), seconds, coarse=codes()[:, :n_coarse],
                                                                   seed=seed),
        "real_semantic_audio_cond": lambda: strata.generate_downstream(audio_cond(), seconds, semantic=semantic(),
                                                                       seed=seed, cfg_scale=cfg_scale),
        "real_semantic_text_cond": lambda: strata.generate_downstream(text_cond(), seconds, semantic=semantic(),
                                                                      seed=seed, cfg_scale=cfg_scale),
        "generated": lambda: generated if generated is not None else strata.generate(
            captions, seconds, seed=seed, cfg_scale=cfg_scale).audio,
        "generated_audio_cond": lambda: strata.generate_downstream(audio_cond(), seconds, seed=seed, cfg_scale=cfg_scale),
    }
    if strata.stages["coarse"].layout.has_melody:
        makers["real_semantic_text_melody"] = lambda: strata.generate_downstream(
            text_cond(), seconds, semantic=semantic(), seed=seed, cfg_scale=cfg_scale, melody_scale=melody_scale,
            melody=clips)
    if strata.stages["semantic"].layout.has_melody:
        makers["generated_own_melody"] = lambda: strata.generate(captions, seconds, seed=seed, cfg_scale=cfg_scale,
                                                                 melody=clips, melody_scale=melody_scale).audio
    wanted = LADDER_ROWS if rows is None else rows
    return {name: fit_length(makers[name](), n) for name in LADDER_ROWS if name in wanted and name in makers}


def parse_rows(text: str) -> tuple[str, ...]:
    """`generated,real` as ladder row names; UserError naming the rows on an unknown one."""
    rows = tuple(r.strip() for r in text.split(",") if r.strip())
    unknown = [r for r in rows if r not in LADDER_ROWS]
    if unknown or not rows:
        raise UserError(f"--ladder-rows takes rows among {', '.join(LADDER_ROWS)}, got {text!r}")
    return rows


def fit_length(wav: torch.Tensor, length: int) -> torch.Tensor:
    """Rows of [B, T] trimmed or zero-padded to `length` samples, so every set is scored on the same span."""
    if wav.shape[1] >= length:
        return wav[:, :length].float()
    return torch.nn.functional.pad(wav.float(), (0, length - wav.shape[1]))
