"""The drivers' split rule: a clip without a split trains, so CLAP eval's held-out set never holds a training clip."""
import json
from pathlib import Path

import pytest

from pipeline.drivers.clap import held_out_records
from pipeline.drivers.records import manifest_records
from pipeline.errors import UserError


def _manifest(tmp_path: Path, splits: dict[str, str | None]) -> Path:
    path = tmp_path / "manifest.jsonl"
    rows = []
    for ident, split in splits.items():
        row = {"id": ident, "path": f"audio/{ident}.wav", "seconds": 1.0, "sample_rate": 8000, "caption": "a tune"}
        if split is not None:
            row["split"] = split
        rows.append(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_clap_eval_scores_only_valid_and_test_clips(tmp_path):
    manifest = _manifest(tmp_path, {"a": None, "b": "train", "c": "valid", "d": None, "e": "test", "f": "valid"})
    held = [r["id"] for r in held_out_records(manifest)]
    train = [r["id"] for r in manifest_records(manifest, "train")]
    assert held == ["c", "e", "f"] and train == ["a", "b", "d"]
    assert [r["id"] for r in held_out_records(manifest, max_clips=2)] == ["c", "e"]


def test_a_manifest_without_any_split_has_no_held_out_clips(tmp_path):
    manifest = _manifest(tmp_path, {"a": None, "b": None, "c": None})
    assert held_out_records(manifest) == []
    assert len(manifest_records(manifest, "train")) == 3


def test_missing_manifest_names_the_command_that_builds_one(tmp_path):
    with pytest.raises(UserError, match="no manifest at .*strata data synth"):
        manifest_records(tmp_path / "none.jsonl")
