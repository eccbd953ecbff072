"""SHA-256 checksums for shipped weights: written at export, verified at load."""
from __future__ import annotations

import json
from pathlib import Path

from training.files import atomic_write_text, file_digest

from .errors import UserError

CHECKSUM_FILE = "checksums.json"


def write_checksums(root: Path, files: list[Path]) -> dict[str, str]:
    """Record the checksum of each file (paths relative to root) in root/checksums.json."""
    table = {str(p.relative_to(root)): file_digest(p) for p in sorted(files)}
    atomic_write_text(root / CHECKSUM_FILE, json.dumps(table, indent=2) + "\n")
    return table


def verify_run(root: Path) -> None:
    """Raise UserError naming the first file that is missing or differs from checksums.json (no file: nothing to check)."""
    table_path = root / CHECKSUM_FILE
    if not table_path.is_file():
        return
    for rel, expected in json.loads(table_path.read_text()).items():
        path = root / rel
        if not path.is_file():
            raise UserError(f"shipped weight file missing: {path}")
        if file_digest(path) != expected:
            raise UserError(f"checksum mismatch for {path}: the file is corrupt or was modified (expected sha256 {expected[:12]}…)")
