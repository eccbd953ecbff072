"""Melody tokens: MusicGen chroma argmax (no training) or a learned MusicLM-style embedding + RVQ.

`MelodyTokenizer` is imported lazily so that reading the config stays free of torch.
"""
from __future__ import annotations

from typing import Any

__all__ = ["MelodyTokenizer"]


def __getattr__(name: str) -> Any:
    if name == "MelodyTokenizer":
        from .tokenizer import MelodyTokenizer

        return MelodyTokenizer
    raise AttributeError(name)
