"""Manifests: one JSON object per line describing a clip (id, path, caption, seconds, sample_rate, md5, split, ...).

`path` is stored relative to the manifest's folder (or absolute) and resolved to an absolute path on reading.
The split rule, the one every reader and trainer follows: a record without `split` is a training clip ("train");
read_manifest writes that default into each record it returns, so held-out ("valid"/"test") means an explicit split.
`build_user_manifest` makes one from a folder of the user's own audio, with optional captions, one row per file
or (split_by="segments") one row per time segment of each file, with `start`/`end` seconds into the file.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from training.files import atomic_write_text, file_digest

from .audio_io import probe
from .errors import DataError
from .segments import (
    DEFAULT_SEGMENT_SECONDS, check_disjoint_splits, check_segment_seconds, format_start, segment_bounds,
)

SPLITS = ("train", "valid", "test")
DEFAULT_SPLIT = "train"
HELD_OUT_SPLITS = ("valid", "test")
SPLIT_MODES = ("files", "segments")
HELD_OUT_MIN_FILES = 3
REQUIRED = {"id": str, "path": str, "seconds": (int, float), "sample_rate": int}
OPTIONAL = {"caption": (str, type(None)), "md5": str, "split": str, "attributes": dict, "melody": list,
            "melody_group": (str, type(None)), "captions": list, "start": (int, float), "end": (int, float)}


def validate_record(record: Any, where: str = "record") -> dict:
    """Check one manifest record's fields and types; raise DataError naming the first problem."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for name, types in REQUIRED.items():
        if name not in record:
            raise DataError(f"{where}: missing field '{name}'")
        value = record[name]
        if isinstance(value, bool) or not isinstance(value, types):
            raise DataError(f"{where}: field '{name}' has the wrong type ({type(value).__name__})")
    for name, types in OPTIONAL.items():
        if name in record and not isinstance(record[name], types):
            raise DataError(f"{where}: field '{name}' has the wrong type ({type(record[name]).__name__})")
    if not record["id"] or not record["path"]:
        raise DataError(f"{where}: 'id' and 'path' must not be empty")
    if record["seconds"] <= 0 or record["sample_rate"] <= 0:
        raise DataError(f"{where}: 'seconds' and 'sample_rate' must be positive")
    if "split" in record and record["split"] not in SPLITS:
        raise DataError(f"{where}: split '{record['split']}' is not one of {', '.join(SPLITS)}")
    if "start" in record or "end" in record:
        _check_interval(record, where)
    for i, note in enumerate(record.get("melody") or []):
        if not (isinstance(note, list) and len(note) == 3 and all(isinstance(v, (int, float)) for v in note)):
            raise DataError(f"{where}: melody note {i} must be [onset_s, duration_s, midi]")
    return record


def _check_interval(record: dict, where: str) -> None:
    if "start" not in record or "end" not in record:
        raise DataError(f"{where}: 'start' and 'end' go together (a segment of the file, in seconds)")
    start, end = record["start"], record["end"]
    if isinstance(start, bool) or isinstance(end, bool) or not (math.isfinite(start) and math.isfinite(end)):
        raise DataError(f"{where}: 'start' and 'end' must be finite numbers of seconds")
    if not 0 <= start < end:
        raise DataError(f"{where}: segment needs 0 <= start < end, got start={start} end={end}")


def validate_records(records: list[dict], where: str = "manifest") -> None:
    """Validate every record, check that ids are unique and that no two splits share time of one file."""
    seen: set[str] = set()
    for i, record in enumerate(records):
        validate_record(record, f"{where} line {i + 1}")
        if record["id"] in seen:
            raise DataError(f"{where} line {i + 1}: duplicate id '{record['id']}'")
        seen.add(record["id"])
    check_disjoint_splits(records, where)


def read_manifest(path: str | os.PathLike, check_files: bool = False) -> list[dict]:
    """Read and validate a manifest.jsonl; each record's `path` becomes absolute (relative to the manifest) and a
    record without `split` gets split="train" (DEFAULT_SPLIT), so callers filter on `record["split"]` alone."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"manifest not found: {path} (build one with `strata data synth` or `strata data manifest`)")
    records: list[dict] = []
    base = path.resolve().parent
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {number}: not valid JSON ({exc.msg})") from None
        validate_record(record, f"{path} line {number}")
        record.setdefault("split", DEFAULT_SPLIT)
        record["path"] = str((base / record["path"]).resolve()) if not os.path.isabs(record["path"]) else record["path"]
        if check_files and not os.path.isfile(record["path"]):
            raise DataError(f"{path} line {number}: audio file missing: {record['path']}")
        if check_files and "end" in record and record["end"] * record["sample_rate"] > probe(record["path"]).frames + 1:
            raise DataError(f"{path} line {number}: segment end {record['end']} s is past the end of {record['path']}")
        records.append(record)
    if not records:
        raise DataError(f"manifest {path} has no records")
    validate_records(records, str(path))
    return records


def split_records(records: Iterable[dict], *splits: str) -> list[dict]:
    """The records whose split is one of `splits` (a record without `split` is "train", as read_manifest fills in)."""
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        raise DataError(f"split {unknown[0] if unknown else None!r} is not one of {', '.join(SPLITS)}")
    return [r for r in records if r.get("split", DEFAULT_SPLIT) in splits]


def manifest_line(record: dict) -> str:
    """One record as its canonical JSON line (key order kept, UTF-8, no spaces)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def write_manifest(path: str | os.PathLike, records: Iterable[dict]) -> None:
    """Validate and write records as JSON lines, atomically."""
    records = list(records)
    validate_records(records, str(path))
    atomic_write_text(path, "".join(manifest_line(r) + "\n" for r in records))


def file_md5(path: str | os.PathLike) -> str:
    """Hex MD5 of a file's bytes (the manifest's `md5` field)."""
    return file_digest(path, "md5")


def split_for(key: str, valid_share: float = 0.05, test_share: float = 0.05) -> str:
    """Stable split for a grouping key (source piece or file path): the same key always lands in the same split."""
    u = int(hashlib.md5(key.encode("utf-8")).hexdigest()[:8], 16) / 2**32
    if u < test_share:
        return "test"
    if u < test_share + valid_share:
        return "valid"
    return "train"


def read_captions(path: str | os.PathLike) -> dict[str, str]:
    """Captions from a CSV (header with path|file|id and caption) or JSONL ({"path"|"file"|"id", "caption"})."""
    return {name: row["caption"] for name, row in read_caption_rows(path).items() if row.get("caption") is not None}


def read_caption_rows(path: str | os.PathLike) -> dict[str, dict]:
    """{name: {"caption": str|None, "split": str|None}} from a captions CSV/JSONL; a row needs a caption or a split."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"captions file not found: {path}")
    try:
        rows = _caption_file_rows(path)
    except UnicodeDecodeError:
        raise DataError(f"captions file is not UTF-8 text: {path}") from None
    except csv.Error as exc:
        raise DataError(f"captions file {path} is not valid CSV ({exc})") from None
    out: dict[str, dict] = {}
    for number, row in enumerate(rows, 1):
        name = next((row.get(k) for k in ("path", "file", "id") if isinstance(row, dict) and row.get(k)), None)
        text = row.get("caption") if isinstance(row, dict) else None
        split = (row.get("split") or None) if isinstance(row, dict) else None
        if isinstance(split, str):
            split = split.strip() or None
        if not name or not (isinstance(text, str) or split) or (text is not None and not isinstance(text, str)):
            raise DataError(f"{path} row {number}: needs a 'path' (or 'file'/'id') and a 'caption' (or 'split') column")
        if split is not None and split not in SPLITS:
            raise DataError(f"{path} row {number}: split {split!r} is not one of {', '.join(SPLITS)}")
        out[str(name)] = {"caption": text.strip() if isinstance(text, str) and text.strip() else None, "split": split}
    return out


def _caption_file_rows(path: Path) -> list:
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    if path.suffix.lower() in (".jsonl", ".json"):
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    raise DataError(f"{path} line {number}: not valid JSON") from None
        return rows
    raise DataError(f"captions file {path} must be .csv or .jsonl")


def _row_for(rel: str, rows: dict[str, dict]) -> dict:
    for key in (rel, Path(rel).name, Path(rel).stem, str(Path(rel).with_suffix(""))):
        if key in rows:
            return rows[key]
    return {"caption": None, "split": None}


def held_out_splits(rels: list[str], valid_share: float = 0.05, test_share: float = 0.05) -> dict[str, str]:
    """Split files by file so every folder of >= HELD_OUT_MIN_FILES files has at least one test and one valid file.

    Within a folder, files are ordered by the MD5 of their relative path (stable under renames elsewhere and
    under adding files): the first is test, the second valid, the rest follow split_for. Smaller folders follow
    split_for alone.
    """
    folders: dict[str, list[str]] = {}
    for rel in rels:
        folders.setdefault(str(Path(rel).parent), []).append(rel)
    out: dict[str, str] = {}
    for files in folders.values():
        ordered = sorted(files, key=lambda r: hashlib.md5(r.encode("utf-8")).hexdigest())
        for i, rel in enumerate(ordered):
            if len(ordered) >= HELD_OUT_MIN_FILES and i < 2:
                out[rel] = ("test", "valid")[i]
            else:
                out[rel] = split_for(rel, valid_share, test_share)
    return out


def segment_splits(key: str, count: int, valid_share: float = 0.05, test_share: float = 0.05) -> list[str]:
    """Splits of a file's `count` consecutive segments: with >= HELD_OUT_MIN_FILES segments the middle one is test
    and the last one valid; the others follow split_for("<key>@<index>")."""
    splits = [split_for(f"{key}@{i}", valid_share, test_share) for i in range(count)]
    if count >= HELD_OUT_MIN_FILES:
        splits[count // 2], splits[count - 1] = "test", "valid"
    return splits


def few_file_folders(rels: list[str]) -> list[str]:
    """Folders (relative, "." for the top) holding fewer than HELD_OUT_MIN_FILES of `rels`: split by file, they
    may get no valid or test file."""
    counts: dict[str, int] = {}
    for rel in rels:
        counts[str(Path(rel).parent)] = counts.get(str(Path(rel).parent), 0) + 1
    return sorted(folder for folder, n in counts.items() if n < HELD_OUT_MIN_FILES)


@dataclass(frozen=True)
class UserManifest:
    """What build_user_manifest wrote: rows (clips or segments), rejected files, and folders of < 3 files."""

    rows: int
    rejected: int
    few_file_folders: list[str]


def build_user_manifest(
    audio_dir: str | os.PathLike,
    out: str | os.PathLike,
    captions_path: str | os.PathLike | None = None,
    valid_share: float = 0.05,
    test_share: float = 0.05,
    split_by: str = "files",
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
) -> UserManifest:
    """Manifest of every soundfile-readable file under `audio_dir`; unreadable ones go to rejects.jsonl beside `out`.

    Paths are stored relative to the manifest's folder. split_by="files": one row per file, splits by
    held_out_splits. split_by="segments": one row per consecutive `segment_seconds` segment of each file (id
    "<file id>@<start>", `start`/`end` seconds), splits by segment_splits. A captions `split` forces a whole file's.
    """
    if split_by not in SPLIT_MODES:
        raise DataError(f"split mode {split_by!r} is not one of {', '.join(SPLIT_MODES)}")
    segment_seconds = check_segment_seconds(segment_seconds)
    root = Path(audio_dir)
    if not root.is_dir():
        raise DataError(f"audio folder not found: {root}")
    out = Path(out)
    rows = read_caption_rows(captions_path) if captions_path else {}
    base = out.resolve().parent
    files: list[tuple[str, dict, int]] = []
    rejects: list[dict] = []
    used_ids: set[str] = set()
    for file in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        rel = file.relative_to(root).as_posix()
        try:
            info = probe(file)
            if info.frames <= 0:
                raise DataError("file has no audio frames")
        except DataError as exc:
            rejects.append({"path": str(file.resolve()), "reason": str(exc)})
            continue
        ident = str(Path(rel).with_suffix("")).replace("/", "__")
        while ident in used_ids:
            ident += "_"
        used_ids.add(ident)
        files.append((rel, {
            "id": ident,
            "path": os.path.relpath(file.resolve(), base),
            "caption": _row_for(rel, rows)["caption"],
            "seconds": round(info.seconds, 4),
            "sample_rate": info.sample_rate,
            "md5": file_md5(file),
        }, info.frames))
    if not files:
        raise DataError(f"no readable audio files under {root} ({len(rejects)} rejected)")
    rels = [rel for rel, _, _ in files]
    if split_by == "segments":
        records = []
        for rel, record, frames in files:
            bounds = segment_bounds(frames, record["sample_rate"], segment_seconds)
            forced = _row_for(rel, rows)["split"]
            splits = [forced] * len(bounds) if forced else segment_splits(rel, len(bounds), valid_share, test_share)
            records.extend(_segment_records(record, bounds, splits))
    else:
        splits = held_out_splits(rels, valid_share, test_share)
        records = [{**record, "split": _row_for(rel, rows)["split"] or splits[rel]} for rel, record, _ in files]
    write_manifest(out, records)
    atomic_write_text(out.parent / "rejects.jsonl", "".join(manifest_line(r) + "\n" for r in rejects))
    return UserManifest(len(records), len(rejects), few_file_folders(rels))


def _segment_records(record: dict, bounds: list[tuple[float, float]], splits: list[str]) -> list[dict]:
    """One file's record cut into its segments; the intervals tile the file, so they are disjoint by construction."""
    assert all(a[1] <= b[0] for a, b in zip(bounds, bounds[1:])), "segments of one file overlap"
    return [{**record, "id": f"{record['id']}@{format_start(start)}", "seconds": round(end - start, 4),
             "start": start, "end": end, "split": split}
            for (start, end), split in zip(bounds, splits)]
