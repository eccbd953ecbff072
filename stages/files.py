"""Atomic checkpoint writes for the stages (stages may not import data_prep.files)."""
from __future__ import annotations

import glob
import os
import socket
import tempfile
from pathlib import Path

import torch


def atomic_save(obj: object, path: str | os.PathLike) -> None:
    """torch.save to a temporary sibling, then rename, so readers never see a half-written file; temporaries of the same
    path left by a killed writer on this host are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().replace(".", "_")
    for stale in path.parent.glob(f".{glob.escape(path.name)}.{glob.escape(host)}-*.tmp"):
        pid = stale.name[len(f".{path.name}.{host}-"):].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{host}-{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        # Saved through a file object so the archive's inner name, hence the bytes, never depend on the temporary name.
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
