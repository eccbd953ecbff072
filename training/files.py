"""Atomic file writes (data goes to a temporary sibling, then is renamed into place) and weights-only loads."""
from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import socket
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .errors import CheckpointError


def _host() -> str:
    return socket.gethostname().replace(".", "_")


def _owner() -> str:
    """host-pid tag in temporary names, so a later writer can tell a killed writer's leftovers from a live one's."""
    return f"{_host()}-{os.getpid()}"


def sweep_stale_temps(path: str | os.PathLike) -> int:
    """Remove temporaries of `path` left by writers on this host that no longer run (killed mid-write); returns how many."""
    path = Path(path)
    host = _host()
    removed = 0
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.{glob.escape(host)}-*.tmp"):
        pid = tmp.name[len(f".{path.name}.{host}-"):].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    """Whether process `pid` runs on this host (a writer that may still own its temporary)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed.

    Temporaries a killed writer left for the same path are removed first, so kill -9 and a re-run leave none behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_owner()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_torch_save(obj: object, path: str | os.PathLike) -> None:
    """torch.save `obj` to `path` atomically, so a crash never leaves a half-written checkpoint."""
    import torch

    with atomic_path(path) as tmp:
        # Saved through a file object so the archive's inner name, hence the bytes, never depend on the temporary name.
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest (hashlib `algorithm`, SHA-256 by default) of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_weights(path: str | os.PathLike, error: type[Exception] = CheckpointError) -> Any:
    """torch.load(weights_only=True) of a checkpoint on the CPU; a truncated, corrupt or missing file raises a
    one-line `error` (each package passes its own user-facing error class)."""
    import torch

    if not os.path.isfile(path):
        raise error(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError/UnpicklingError/EOFError for damaged files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise error(f"{path} is not a readable checkpoint (truncated or corrupt?): {reason}") from None
