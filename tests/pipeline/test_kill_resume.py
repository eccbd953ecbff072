"""kill -9 at seeded random moments, then resume: every job ends with the uninterrupted run's artefacts and no debris.

Each job kind (data synth, tokenize, train codec, train clap, train stage, audit) runs once uninterrupted in a copy
of a tiny run, which also measures its wall time. Then, in a fresh copy, the same command (trainers with --resume) is
started again and again and SIGKILLed, with its process group, after a seeded random delay within that measured
time (an attempt that finishes first runs again, and later delays fall within its shorter time), until it has been killed KILLS times; the next attempt runs to the
end. Its artefacts must match the reference (byte for byte, or tensor for tensor for trainers) and it must leave no
temporary, staging folder or truncated .pt behind.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
import torch

from pipeline.profile import load_profile
from pipeline.random_run import build_random_run

from ..data_prep.clap_fixtures import write_corpus

REPO = Path(__file__).resolve().parents[2]
KILLS = 10
TINY = [
    "codec.n_filters=2", "codec.dimension=16", "codec.bins=32", "codec.bandwidth=3.0", "codec.n_coarse=2",
    "clap.embed_dim=16", "clap.audio_width=16", "clap.text_width=16", "clap.text_layers=1", "clap.text_heads=2",
    "clap.n_mels=16", "clap.window_seconds=1.0", "clap.mel_hop=320", "clap.hop_seconds=0.5",
    "rvq.levels=3", "rvq.bins=8", "rvq.fit_crops=2", "semantic.source=mel", "semantic.kmeans.clusters=16",
    "melody.kind=none", "cache.shard_size=1", "cache.caption_variants=0",
    "stages.semantic.crop_seconds=1.0", "stages.coarse.crop_seconds=0.4", "stages.fine.crop_seconds=0.2",
] + [f"stages.{s}.model={{n_layers: 1, n_heads: 2, d_model: 16, d_ff: 32, dropout: 0.0}}" for s in ("semantic", "coarse", "fine")]
TRAIN = {
    "codec": ["codec.train.steps=8", "codec.train.batch_size=2", "codec.train.segment_seconds=0.25",
              "codec.train.ckpt_every=1", "codec.train.log_every=1", "codec.train.snapshot_every=4",
              "codec.train.kmeans_crops=4", "codec.train.kmeans_iters=2", "codec.train.mel_scales=[256,512]",
              "codec.train.threads=1"],
    "clap": ["clap.train.steps=8", "clap.train.batch_size=4", "clap.train.crop_seconds=0.5", "clap.train.ckpt_every=1",
             "clap.train.warmup_steps=1"],
    "stage": ["stages.fine.steps=8", "stages.fine.batch_size=2", "train.ckpt_every=1", "train.keep_last=2",
              "train.log_every=1", "train.val_every=4"],
}
# job -> (argv after `strata --quiet`, artefacts compared, how); {run} is the run folder of the attempt.
JOBS = {
    "synth": (["data", "synth", "--out", "{run}/synth", "--num-clips", "3", "--seconds", "1", "--sample-rate", "16000",
               "--workers", "1"], ["synth"], "bytes"),
    "tokenize": (["tokenize", "--run", "{run}"], ["cache"], "bytes"),
    "codec": (["train", "codec", "--run", "{run}", "--resume"] + TRAIN["codec"], ["tokenizers/codec.pt"], "tensors"),
    "clap": (["train", "clap", "--run", "{run}", "--resume"] + TRAIN["clap"],
             ["tokenizers/clap.pt", "tokenizers/rvq.pt"], "tensors"),
    "stage": (["train", "stage", "--stage", "fine", "--run", "{run}", "--resume"] + TRAIN["stage"],
              ["stages/fine/model.pt"], "tensors"),
    "audit": (["audit", "--run", "{run}", "--num-examples", "4", "--prompt-seconds", "0,0.4",
               "--continuation-seconds", "0.4", "--max-negatives", "50", "--out", "{run}/audit"], ["audit"], "bytes"),
}


def _env() -> dict[str, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg",
               DS_ACCELERATOR="cpu", RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    return env


def _command(job: str, run: Path) -> list[str]:
    argv = [a.replace("{run}", str(run)) for a in JOBS[job][0]]
    return [sys.executable, "-m", "pipeline.cli", "--quiet", *argv]


def _start(job: str, run: Path) -> subprocess.Popen:
    # stderr goes to a file, not a pipe: a chatty job (DeepSpeed's logs) would block on a full pipe while we wait.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(_command(job, run), cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=log,
                            start_new_session=True)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def _finish(proc: subprocess.Popen, job: str) -> None:
    proc.wait()
    proc.log.seek(0)  # type: ignore[attr-defined]
    err = proc.log.read().decode(errors="replace")  # type: ignore[attr-defined]
    assert proc.returncode == 0, f"{job} failed ({proc.returncode}): {err[-2000:]}"


def _files(root: Path, rel: str) -> dict[str, Path]:
    path = root / rel
    if path.is_file():
        return {rel: path}
    return {str(p.relative_to(root)): p for p in sorted(path.rglob("*")) if p.is_file()}


def _same_tensors(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_tensors(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same_tensors(x, y) for x, y in zip(a, b))
    return a == b


def _assert_same_artefacts(job: str, reference: Path, attempt: Path) -> None:
    _, outputs, how = JOBS[job]
    for rel in outputs:
        ref, got = _files(reference, rel), _files(attempt, rel)
        assert ref and sorted(ref) == sorted(got), f"{job}: {sorted(set(ref) ^ set(got))}"
        for name, path in ref.items():
            if how == "bytes" or not name.endswith(".pt"):
                assert path.read_bytes() == got[name].read_bytes(), f"{job}: {name} differs from the uninterrupted run"
            else:
                a, b = (torch.load(p, map_location="cpu", weights_only=True) for p in (path, got[name]))
                assert _same_tensors(a, b), f"{job}: {name} holds other values than the uninterrupted run's"


def _assert_no_debris(root: Path) -> None:
    leftovers = [p for p in root.rglob("*") if p.name.endswith(".tmp") or p.name == ".staging"]
    assert not leftovers, f"temporaries left behind: {leftovers}"
    for path in root.rglob("*.pt"):
        with zipfile.ZipFile(path) as archive:
            assert archive.testzip() is None, f"{path} is corrupt"
        if "checkpoints" not in path.parts:
            torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def base_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Per job, the run folder it starts from (a tiny random run with audio, then each job's reference outputs)."""
    root = tmp_path_factory.mktemp("kill")
    run = build_random_run(root / "base", load_profile("tiny", TINY), rvq_fit_vectors=32).root
    write_corpus(run / "data", n=5, seconds=1.0)
    starts = {"synth": run, "tokenize": run, "codec": run, "clap": run}
    tokenized = root / "tokenized"
    shutil.copytree(run, tokenized)
    _finish(_start("tokenize", tokenized), "tokenize")
    starts.update(stage=tokenized, audit=tokenized)
    return starts


@pytest.mark.parametrize("job", list(JOBS))
def test_kill_anywhere_then_resume_gives_the_uninterrupted_result(job, base_runs, tmp_path):
    start = base_runs[job]
    reference = tmp_path / "reference"
    shutil.copytree(start, reference)
    began = time.monotonic()
    _finish(_start(job, reference), job)
    duration = time.monotonic() - began
    _assert_no_debris(reference)

    rng = random.Random(f"kill-{job}")
    attempt = tmp_path / "attempt"
    shutil.copytree(start, attempt)
    kills, finished_early, span = 0, 0, duration
    while True:
        proc = _start(job, attempt)
        began = time.monotonic()
        try:
            proc.wait(timeout=rng.uniform(0.05, 1.0) * span if kills < KILLS else None)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
            continue
        _finish(proc, job)
        if kills >= KILLS:
            break
        # A finished job re-run must also be killable and leave the same artefacts; later delays are drawn within
        # this shorter re-run so that they still land inside it.
        finished_early, span = finished_early + 1, time.monotonic() - began
    _assert_same_artefacts(job, reference, attempt)
    _assert_no_debris(attempt)
    print(f"{job}: {kills} kills ({finished_early} attempts finished before their kill), uninterrupted {duration:.1f} s")
