"""TokenCache: read the shards `strata tokenize` wrote; random crops aligned across token streams."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from ..errors import DataError
from .writer import META_FILE, REJECTS_FILE


class TokenCache:
    """All finished shards of one cache folder, loaded once on first use."""

    def __init__(self, cache_dir: str | os.PathLike) -> None:
        self.root = Path(cache_dir)
        if not (self.root / META_FILE).is_file():
            raise DataError(f"no token cache at {self.root}: run `strata tokenize --run R` first")
        self.meta: dict[str, Any] = json.loads((self.root / META_FILE).read_text())
        self._records: list[dict[str, Any]] | None = None

    def records(self, split: str | None = None) -> list[dict[str, Any]]:
        """Token records (contract fields plus "seconds" and "clap"), optionally only one split, in shard order."""
        if self._records is None:
            self._records = []
            for path in sorted(self.root.glob("shard-*.pt")):
                shard = torch.load(path, map_location="cpu", weights_only=True)
                if shard.get("meta") != self.meta:
                    raise DataError(f"{path} was written with other tokenizers than {self.root / META_FILE}: re-run `strata tokenize`")
                self._records.extend(shard["records"])
        return [r for r in self._records if split is None or r["split"] == split]

    def rejects(self) -> list[dict[str, Any]]:
        """Clips that failed to tokenize, with the reason."""
        path = self.root / REJECTS_FILE
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

