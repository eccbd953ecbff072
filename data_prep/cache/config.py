"""Config of the sharded token cache written by `strata tokenize`."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenCacheConfig:
    """Clips per shard; smaller shards resume at finer grain."""

    shard_size: int = 32
