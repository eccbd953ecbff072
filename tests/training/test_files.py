"""Atomic writes leave the old file or the new one, never a partial one, and loads are weights-only."""
import os

import pytest
import torch

from training.errors import CheckpointError
from training.files import atomic_path, atomic_torch_save, atomic_write_text, load_weights, sweep_stale_temps


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_torch_round_trip_and_identical_bytes(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3), "step": 3}
    atomic_torch_save(state, tmp_path / "a.pt")
    atomic_torch_save(state, tmp_path / "b.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    loaded = load_weights(tmp_path / "a.pt")
    assert loaded["step"] == 3 and torch.equal(loaded["w"], state["w"])


class Custom:
    """An arbitrary class: a weights-only load must refuse to build it."""


def test_load_refuses_pickled_objects_and_damaged_files(tmp_path):
    torch.save({"obj": Custom()}, tmp_path / "pickled.pt")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_weights(tmp_path / "pickled.pt")
    (tmp_path / "short.pt").write_bytes(b"garbage")
    with pytest.raises(KeyError):
        load_weights(tmp_path / "short.pt", error=KeyError)
    with pytest.raises(CheckpointError, match="not found"):
        load_weights(tmp_path / "missing.pt")


def test_stale_temporaries_of_dead_writers_are_swept(tmp_path):
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname().replace(".", "_")
    stale = tmp_path / f".a.pt.{host}-{int(dead.stdout)}.x.tmp"
    live = tmp_path / f".a.pt.{host}-{os.getpid()}.y.tmp"
    stale.write_bytes(b"")
    live.write_bytes(b"")
    assert sweep_stale_temps(tmp_path / "a.pt") == 1
    assert not stale.exists() and live.exists()
