"""The real tokenize function for the cache: one manifest record -> CLAP embedding/tokens, semantic, codec, melody."""
from __future__ import annotations

import random
from typing import Any

import torch

from ..audio_io import load_record_audio
from ..clap.captions import augment_caption
from .writer import TokenizeFn


def cache_meta(codec: Any, cond: Any, semantic: Any, melody: Any | None) -> dict[str, Any]:
    """The contract metadata of a cache written with these tokenizers."""
    return {
        "semantic_rate": float(semantic.rate),
        "semantic_bins": int(semantic.vocab_size),
        "acoustic_rate": float(codec.frame_rate),
        "codec_bins": int(codec.bins),
        "n_q": int(codec.n_q),
        "n_coarse": int(codec.n_coarse),
        "cond_levels": int(cond.levels),
        "cond_bins": int(cond.bins),
        "melody_rate": float(melody.rate) if melody is not None else 0.0,
        "melody_bins": int(melody.vocab_size) if melody is not None else 0,
        "sample_rate": int(codec.sample_rate),
    }


def caption_variants(record: dict[str, Any], count: int, free_prob: float = 0.0) -> list[str]:
    """The record's caption plus count-1 seeded rewordings (same attributes, other phrasing; free_prob of them freely
    worded); [] without a caption."""
    caption = str(record.get("caption") or "").strip()
    if not caption or count < 1:
        return []
    rng = random.Random(f"caption-variants:{record.get('id', '')}")
    return [caption] + [augment_caption(record, rng, free_prob=free_prob) for _ in range(count - 1)]


def make_tokenize_fn(codec: Any, cond: Any, semantic: Any, melody: Any | None = None,
                     text_variants: int = 0, free_prob: float = 0.0) -> TokenizeFn:
    """A function mapping a manifest record (its "path", only `start`..`end` seconds when set) to its token fields
    (cond, semantic, acoustic, melody) plus "clap" and "seconds".

    With text_variants > 0 a captioned record also gets "cond_text": Long[text_variants, levels] text tokens.
    """
    sr = int(codec.sample_rate)

    @torch.no_grad()
    def tokenize(record: dict[str, Any]) -> dict[str, Any]:
        wav = load_record_audio(record, sr).unsqueeze(0)
        emb = cond.embed_audio(wav, sr)
        out = {
            "clap": emb[0].float(),
            "cond": cond.quantize(emb)[0].long(),
            "semantic": semantic.tokens(wav, sr)[0].long(),
            "acoustic": codec.encode(wav)[0].long(),
            "seconds": wav.shape[-1] / sr,
        }
        if melody is not None:
            out["melody"] = melody.tokens(wav, sr)[0].long()
        texts = caption_variants(record, text_variants, free_prob)
        if texts:
            out["cond_text"] = cond.text_tokens(texts).long()
        return out

    return tokenize
