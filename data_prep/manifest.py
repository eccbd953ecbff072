"""Manifests: one JSON object per line describing a clip (id, path, caption, seconds, sample_rate, md5, split, ...).

`path` is stored relative to the manifest's folder (or absolute) and resolved to an absolute path on reading.
`build_user_manifest` makes one from a folder of the user's own audio, with optional captions.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

from .audio_io import probe
from .errors import DataError
from .files import atomic_write_text, file_digest

SPLITS = ("train", "valid", "test")
HELD_OUT_MIN_FILES = 3
REQUIRED = {"id": str, "path": str, "seconds": (int, float), "sample_rate": int}
OPTIONAL = {"caption": (str, type(None)), "md5": str, "split": str, "attributes": dict, "melody": list,
            "melody_group": (str, type(None)), "captions": list}


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
    for i, note in enumerate(record.get("melody") or []):
        if not (isinstance(note, list) and len(note) == 3 and all(isinstance(v, (int, float)) for v in note)):
            raise DataError(f"{where}: melody note {i} must be [onset_s, duration_s, midi]")
    return record


def validate_records(records: list[dict], where: str = "manifest") -> None:
    """Validate every record and check that ids are unique."""
    seen: set[str] = set()
    for i, record in enumerate(records):
        validate_record(record, f"{where} line {i + 1}")
        if record["id"] in seen:
            raise DataError(f"{where} line {i + 1}: duplicate id '{record['id']}'")
        seen.add(record["id"])


def read_manifest(path: str | os.PathLike, check_files: bool = False) -> list[dict]:
    """Read and validate a manifest.jsonl; each record's `path` becomes absolute (relative to the manifest)."""
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
        record["path"] = str((base / record["path"]).resolve()) if not os.path.isabs(record["path"]) else record["path"]
        if check_files and not os.path.isfile(record["path"]):
            raise DataError(f"{path} line {number}: audio file missing: {record['path']}")
        records.append(record)
    if not records:
        raise DataError(f"manifest {path} has no records")
    validate_records(records, str(path))
    return records


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


def build_user_manifest(
    audio_dir: str | os.PathLike,
    out: str | os.PathLike,
    captions_path: str | os.PathLike | None = None,
    valid_share: float = 0.05,
    test_share: float = 0.05,
) -> tuple[int, int]:
    """Manifest of every soundfile-readable file under `audio_dir`; unreadable ones go to rejects.jsonl beside `out`.

    Returns (clips written, files rejected). Paths are stored relative to the manifest's folder. Splits follow
    held_out_splits unless the captions file gives a file's `split`.
    """
    root = Path(audio_dir)
    if not root.is_dir():
        raise DataError(f"audio folder not found: {root}")
    out = Path(out)
    rows = read_caption_rows(captions_path) if captions_path else {}
    base = out.resolve().parent
    records: list[dict] = []
    rejects: list[dict] = []
    used_ids: set[str] = set()
    rels: list[str] = []
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
        records.append({
            "id": ident,
            "path": os.path.relpath(file.resolve(), base),
            "caption": _row_for(rel, rows)["caption"],
            "seconds": round(info.seconds, 4),
            "sample_rate": info.sample_rate,
            "md5": file_md5(file),
        })
        rels.append(rel)
    if not records:
        raise DataError(f"no readable audio files under {root} ({len(rejects)} rejected)")
    splits = held_out_splits(rels, valid_share, test_share)
    for record, rel in zip(records, rels):
        record["split"] = _row_for(rel, rows)["split"] or splits[rel]
    write_manifest(out, records)
    atomic_write_text(out.parent / "rejects.jsonl", "".join(manifest_line(r) + "\n" for r in rejects))
    return len(records), len(rejects)
