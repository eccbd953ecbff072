"""The sharded token cache written by `strata tokenize` and read by the stage datasets.

Names are imported lazily so that reading the config does not pull in torch.
"""
from __future__ import annotations

from typing import Any

__all__ = ["TokenCache", "write_cache"]


def __getattr__(name: str) -> Any:
    if name == "TokenCache":
        from . import reader

        return getattr(reader, name)
    if name == "write_cache":
        from .writer import write_cache

        return write_cache
    raise AttributeError(name)
