"""Atomic checkpoint writes for the stages (stages may not import data_prep.files)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch


def atomic_save(obj: object, path: str | os.PathLike) -> None:
    """torch.save to a temporary sibling, then rename, so readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
