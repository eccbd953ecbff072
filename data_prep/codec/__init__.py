"""Acoustic tokens: EnCodec (official 24 kHz or a small trainable variant) as a batched, chunked tokenizer.

`CodecTokenizer` is imported lazily so that reading the config (the CLI, the profile) stays free of torch.
"""
from __future__ import annotations

from typing import Any

from .config import CodecConfig, CodecTrainConfig

__all__ = ["CodecConfig", "CodecTrainConfig", "CodecTokenizer"]


def __getattr__(name: str) -> Any:
    if name == "CodecTokenizer":
        from .tokenizer import CodecTokenizer

        return CodecTokenizer
    raise AttributeError(name)
