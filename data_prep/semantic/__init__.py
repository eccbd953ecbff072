"""Semantic tokens: fairseq2 SSL (or log-mel) features, normalised, clustered with faiss k-means.

`SemanticTokenizer` is imported lazily so that reading the config does not pull in torch.
"""
from __future__ import annotations

from typing import Any

__all__ = ["SemanticTokenizer"]


def __getattr__(name: str) -> Any:
    if name == "SemanticTokenizer":
        from .tokenizer import SemanticTokenizer

        return SemanticTokenizer
    raise AttributeError(name)
