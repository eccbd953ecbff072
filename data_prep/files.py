"""data_prep's checkpoint load, failing with a DataError; the atomic writers live in training.files and are
re-exported here for the modules above data_prep that still import them from this module."""
from __future__ import annotations

import os
from typing import Any

from training.files import atomic_path, atomic_torch_save, atomic_write_text, file_digest, sweep_stale_temps
from training.files import load_weights as _load_weights

from .errors import DataError

__all__ = ["atomic_path", "atomic_torch_save", "atomic_write_text", "file_digest", "load_weights", "sweep_stale_temps"]


def load_weights(path: str | os.PathLike) -> Any:
    """torch.load(weights_only=True) of a checkpoint; a truncated, corrupt or missing file is a one-line DataError."""
    return _load_weights(path, DataError)
