"""Every layout by stage and kind: build one for a token cache, or rebuild one saved in a model.pt."""
from __future__ import annotations

from typing import Any, Mapping

from .delay_layouts import DelayCoarseLayout, DelayFineLayout
from .errors import StageError
from .layouts import CoarseLayout, FineLayout, Layout, SemanticLayout
from .token_spec import TokenSpec

STAGES = ("semantic", "coarse", "fine")
LAYOUT_KINDS = ("flat", "delay")
LAYOUTS: dict[tuple[str, str], type[Layout]] = {
    ("semantic", "flat"): SemanticLayout, ("coarse", "flat"): CoarseLayout, ("fine", "flat"): FineLayout,
    ("coarse", "delay"): DelayCoarseLayout, ("fine", "delay"): DelayFineLayout,
}


def make_layout(stage: str, tokens: TokenSpec | Mapping[str, Any], crop_seconds: float, layout: str = "flat",
                melody: bool = False, aligned: bool = False) -> Layout:
    """The `layout` ("flat" or "delay") of `stage` for a token cache described by `tokens` (a spec or its metadata
    dict); melody=True makes the coarse stage read melody tokens too (the semantic stage always does when the cache
    has them); aligned=True adds each frame's semantic (and melody) token to the delay coarse step predicting it."""
    if stage not in STAGES:
        raise StageError(f"unknown stage '{stage}' (choose {', '.join(STAGES)})")
    if layout not in LAYOUT_KINDS:
        raise StageError(f"unknown {stage} layout '{layout}' (choose {' or '.join(LAYOUT_KINDS)})")
    if melody and stage == "fine":
        raise StageError("the fine stage reads no melody tokens: set melody only for the coarse stage")
    if (stage, layout) not in LAYOUTS:
        raise StageError("the semantic stage has one token stream: its layout must be flat")
    return LAYOUTS[stage, layout](TokenSpec.of(tokens), crop_seconds, melody, aligned)


def layout_from_spec(spec: dict[str, Any]) -> Layout:
    """Rebuild a layout saved with `Layout.spec()` (files without a layout key are flat, without a melody key read
    melody only in the semantic stage, without an aligned key have no aligned streams)."""
    melody = bool(spec.get("melody", False)) and spec["stage"] == "coarse"
    return make_layout(spec["stage"], spec["meta"], spec["crop_seconds"], spec.get("layout", "flat"), melody,
                       bool(spec.get("aligned", False)))
