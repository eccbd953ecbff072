"""Config of the sharded token cache written by `strata tokenize`."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenCacheConfig:
    """Clips per shard (smaller shards resume at finer grain) and caption phrasings tokenized per captioned clip."""

    shard_size: int = 32
    # Text conditioning tokens stored per captioned clip (field cond_text): its caption plus reworded variants.
    # Stages read them when stages.<stage>.text_cond_prob > 0; 0 stores none.
    caption_variants: int = 0
    # Share of the reworded variants that are freely worded sentences (data_prep/clap/free_captions.py).
    free_caption_prob: float = 0.0
