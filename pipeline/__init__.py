"""Strata's top layer: CLI, profiles, run directories, the orchestrator, recipe, demo, audit and eval drivers.

`from pipeline import Strata` gives the Python generation API; it is imported lazily so the CLI starts fast.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Strata"]


def __getattr__(name: str) -> Any:
    if name == "Strata":
        from .orchestrator import Strata

        return Strata
    raise AttributeError(name)
