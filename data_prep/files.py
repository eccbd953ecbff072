"""data_prep's checkpoint load: training.files' weights-only load, failing with a DataError (exit 2 in the CLI)."""
from __future__ import annotations

import os
from typing import Any

from training.files import load_weights as _load_weights

from .errors import DataError


def load_weights(path: str | os.PathLike) -> Any:
    """torch.load(weights_only=True) of a checkpoint; a truncated, corrupt or missing file is a one-line DataError."""
    return _load_weights(path, DataError)
