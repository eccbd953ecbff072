"""CLAP conditioning: audio/text embeddings (small trainable CLAP or official laion-clap) and their RVQ tokens.

`ConditionTokenizer` is imported lazily so that reading the config (the CLI, the profile) stays free of torch.
"""
from __future__ import annotations

from typing import Any

__all__ = ["ConditionTokenizer"]


def __getattr__(name: str) -> Any:
    if name == "ConditionTokenizer":
        from .tokenizer import ConditionTokenizer

        return ConditionTokenizer
    raise AttributeError(name)
