"""Stage transformers: one decoder-only model, three token layouts, sampling and the DeepSpeed trainer.

A stage sees token tensors only; it imports neither `pipeline` nor `data_prep`.
`stages.Stage` (model + layout, `Stage.load(path)`) is imported lazily so that reading configs stays torch-free.
"""
from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """Lazy access to `Stage` without importing torch at package import."""
    if name == "Stage":
        from .stage import Stage

        return Stage
    raise AttributeError(f"module 'stages' has no attribute '{name}'")
