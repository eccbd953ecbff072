"""Checks that one clip's token record matches the cache metadata: dtypes, shapes, id ranges, lengths vs rates."""
from __future__ import annotations

from typing import Any

import torch

META_KEYS = (
    "semantic_rate", "semantic_bins", "acoustic_rate", "codec_bins", "n_q", "n_coarse",
    "cond_levels", "cond_bins", "melody_rate", "melody_bins", "sample_rate",
)
LENGTH_SLACK_FRAMES = 2
LENGTH_SLACK_RATIO = 0.02


def check_meta(meta: dict[str, Any]) -> None:
    """Raise ValueError if `meta` lacks a contract key."""
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise ValueError(f"cache metadata lacks {', '.join(missing)}")


def validate_record(rec: dict[str, Any], meta: dict[str, Any], seconds: float | None) -> None:
    """Raise ValueError naming the first problem in `rec` (ids out of range, wrong shape, length off its rate)."""
    _ids(rec, "cond", 1, meta["cond_bins"])
    if rec["cond"].shape[0] != meta["cond_levels"]:
        raise ValueError(f"cond has {rec['cond'].shape[0]} tokens, expected cond_levels={meta['cond_levels']}")
    if rec.get("cond_text") is not None:
        _ids(rec, "cond_text", 2, meta["cond_bins"])
        if rec["cond_text"].shape[1] != meta["cond_levels"]:
            raise ValueError(f"cond_text has {rec['cond_text'].shape[1]} levels, expected cond_levels={meta['cond_levels']}")
    _ids(rec, "semantic", 1, meta["semantic_bins"])
    _ids(rec, "acoustic", 2, meta["codec_bins"])
    if rec["acoustic"].shape[0] != meta["n_q"]:
        raise ValueError(f"acoustic has {rec['acoustic'].shape[0]} levels, expected n_q={meta['n_q']}")
    has_melody = rec.get("melody") is not None
    if meta["melody_bins"] and not has_melody:
        raise ValueError("melody tokens missing although the cache has a melody tokenizer")
    if has_melody:
        if not meta["melody_bins"]:
            raise ValueError("melody tokens present although the cache has no melody tokenizer")
        _ids(rec, "melody", 1, meta["melody_bins"])
    if seconds is None:
        return
    _length(rec["semantic"].shape[0], seconds * meta["semantic_rate"], "semantic")
    _length(rec["acoustic"].shape[1], seconds * meta["acoustic_rate"], "acoustic")
    if has_melody:
        _length(rec["melody"].shape[0], seconds * meta["melody_rate"], "melody")


def _ids(rec: dict[str, Any], key: str, ndim: int, bins: int) -> None:
    t = rec.get(key)
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{key} is missing or not a tensor")
    if t.dtype != torch.long or t.dim() != ndim:
        raise ValueError(f"{key} must be a {ndim}-d LongTensor, got {t.dtype} with shape {tuple(t.shape)}")
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= bins):
        raise ValueError(f"{key} ids span [{int(t.min())}, {int(t.max())}], outside [0, {bins})")


def _length(actual: int, expected: float, key: str) -> None:
    slack = max(LENGTH_SLACK_FRAMES, LENGTH_SLACK_RATIO * expected)
    if abs(actual - expected) > slack + 1:
        raise ValueError(f"{key} has {actual} frames, expected about {expected:.1f} from its rate")
