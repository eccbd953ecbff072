"""`strata bench codec`: encode and decode real-time factors of the tiny codec and the official architecture."""
from __future__ import annotations

import time

import torch

from data_prep.codec import CodecConfig, CodecTokenizer
from data_prep.codec.model import OFFICIAL, build_official


def _seconds_per_call(fn, repeats: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def bench_codec(quick: bool = False) -> dict:
    """Real-time factors (audio seconds per wall second; >1 is faster than real time), measured side by side."""
    torch.manual_seed(0)
    seconds = 2.0 if quick else 10.0
    repeats = 1 if quick else 3
    tiny = CodecTokenizer.from_config(CodecConfig())
    official = CodecTokenizer(build_official(pretrained=False), CodecConfig(pretrained=OFFICIAL, bandwidth=6.0), OFFICIAL)
    for tok in (tiny, official):
        for book in (layer._codebook for layer in tok.model.quantizer.vq.layers):
            book.embed.data.normal_(0.0, 0.1)
    wav = 0.1 * torch.randn(1, int(seconds * 24000))
    figures: dict = {"audio_seconds": seconds, "threads": torch.get_num_threads()}
    for name, tok in (("tiny", tiny), ("official_6kbps", official)):
        codes = tok.encode(wav)
        enc = _seconds_per_call(lambda: tok.encode(wav), repeats)
        dec = _seconds_per_call(lambda: tok.decode(codes), repeats)
        figures[f"{name}_encode_rtf"] = round(seconds / enc, 2)
        figures[f"{name}_decode_rtf"] = round(seconds / dec, 2)
        figures[f"{name}_coarse_decode_rtf"] = round(seconds / _seconds_per_call(lambda: tok.decode(codes[:, : tok.n_coarse]), repeats), 2)
        figures[f"{name}_parameters"] = tok.num_parameters()
    figures["tiny_vs_official_decode_speedup"] = round(figures["tiny_decode_rtf"] / figures["official_6kbps_decode_rtf"], 2)
    return figures
