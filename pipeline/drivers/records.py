"""A run's manifest records by split (the split rule lives in data_prep.manifest) and the clips they point to."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from data_prep.manifest import read_manifest, split_records

from ..errors import UserError


def manifest_records(manifest: Path, *splits: str) -> list[dict[str, Any]]:
    """Records of `manifest` (absolute paths, every record with a split), only `splits` when given; a UserError
    naming the command that builds one when the file is missing."""
    if not Path(manifest).is_file():
        raise UserError(f"no manifest at {manifest}: create it with `strata data synth --run R` or `strata data manifest`")
    records = read_manifest(manifest)
    return split_records(records, *splits) if splits else records


def balanced(records: list[dict[str, Any]], manifest: Path, attribute: str) -> list[dict[str, Any]]:
    """Token records, each given a draw "weight" so that every value of the manifest `attribute` is drawn equally
    often; a UserError when a record's clip lacks the attribute."""
    from collections import Counter

    values = {row["id"]: row.get("attributes", {}).get(attribute) for row in manifest_records(manifest)}
    missing = [r["id"] for r in records if values.get(r["id"]) is None]
    if missing:
        raise UserError(f"balance={attribute!r}: {len(missing)} of {len(records)} training clips have no attribute "
                        f"{attribute!r} in {manifest} (first: {missing[0]})")
    counts = Counter(str(values[r["id"]]) for r in records)
    return [{**r, "weight": 1.0 / counts[str(values[r["id"]])]} for r in records]


def warn_unreadable(path: str, exc: Exception) -> None:
    """Report a clip that could not be read and is skipped."""
    print(f"skipping {path}: {exc}", file=sys.stderr)


def load_mono_clips(manifest: Path, sample_rate: int, split: str = "train") -> list:
    """Mono clips of one split at `sample_rate`; unreadable files are skipped with a warning."""
    from data_prep.semantic.train_ssl import load_clips

    clips = load_clips(manifest_records(manifest, split), sample_rate, on_error=warn_unreadable)
    if not clips:
        raise UserError(f"{manifest} has no readable split=='{split}' clips")
    return clips


def fixed_length_clips(rows: list[dict[str, Any]], sample_rate: int, seconds: float) -> Any:
    """[N, seconds * sample_rate] float tensor of the records' audio, cut or zero-padded to the same length."""
    import torch

    from data_prep.audio_io import load_record_audio

    n = int(seconds * sample_rate)
    out = torch.zeros(len(rows), n)
    for i, row in enumerate(rows):
        wav = load_record_audio(row, sample_rate)[:n]
        out[i, : wav.shape[0]] = wav
    return out
