"""Export a trained run as shipped weights: fp16 state dicts, a few training examples for the audit, checksums.

Only tensors inside a `state_dict` are halved (modules cast them back to fp32 on load); quantizer codebooks and
k-means centroids stay fp32 so token assignments do not change.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from training.files import atomic_torch_save, load_weights

from .checksums import write_checksums
from .run_dir import STAGE_NAMES, RunDir

TOKENIZERS = ("codec", "clap", "rvq", "semantic", "kmeans", "melody")


def halve_state_dicts(obj: Any, inside: bool = False, key: str = "", _seen: dict | None = None) -> Any:
    """Copy of a checkpoint with float32 tensors under any 'state_dict' key converted to float16.

    Vector-quantizer codebooks (keys containing 'codebook') stay float32 so that encoding picks the same codes.
    Tensors that shared storage (tied embeddings) still share it, so the file does not grow.
    """
    seen = {} if _seen is None else _seen
    if isinstance(obj, dict):
        return {k: halve_state_dicts(v, inside or k == "state_dict", str(k), seen) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(halve_state_dicts(v, inside, key, seen) for v in obj)
    if inside and isinstance(obj, torch.Tensor) and obj.dtype == torch.float32 and "codebook" not in key:
        ident = (obj.untyped_storage().data_ptr(), obj.storage_offset(), tuple(obj.shape))
        if ident not in seen:
            seen[ident] = obj.half()
        return seen[ident]
    return obj


def export_run(src: RunDir, dst: Path, audit_examples: int = 32) -> dict[str, int]:
    """Write `src`'s inference files into `dst` (a run folder), halved, with checksums.json; returns bytes per file."""
    from data_prep.cache import TokenCache, write_cache
    from stages.stage import Stage

    dst_run = RunDir(dst)
    # Everything is read before anything is written, so a damaged source leaves no half export behind.
    tokenizers = {name: load_weights(src.tokenizer(name)) for name in TOKENIZERS if src.tokenizer(name).is_file()}
    stages = {stage: Stage.load(src.stage_model(stage)).to_dict() for stage in STAGE_NAMES}
    cache = TokenCache(src.cache_dir)
    files: list[Path] = []
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src.config_path, dst_run.config_path)
    files.append(dst_run.config_path)
    for name, blob in tokenizers.items():
        atomic_torch_save(halve_state_dicts(blob), dst_run.tokenizer(name))
        files.append(dst_run.tokenizer(name))
    for stage, blob in stages.items():  # re-serialised from the loaded Stage so tied weights are stored once
        atomic_torch_save(halve_state_dicts(blob), dst_run.stage_model(stage))
        files.append(dst_run.stage_model(stage))
    train = cache.records("train")[:audit_examples]
    if dst_run.cache_dir.exists():
        shutil.rmtree(dst_run.cache_dir)
    write_cache(train, lambda record: record, dst_run.cache_dir, shard_size=max(1, len(train)), meta=cache.meta)
    files += sorted(p for p in dst_run.cache_dir.iterdir() if p.is_file())
    write_checksums(dst, files)
    return {str(p.relative_to(dst)): p.stat().st_size for p in files}
