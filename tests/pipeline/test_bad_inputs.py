"""A battery of bad inputs across the CLI: each is exit 2, one stderr line, no traceback, nothing written.

Cases run in-process through pipeline.cli.main on a tiny random run the module builds, and on the shipped weights
(`--run embedded`, outputs always pointed into the test's folder); a few run as subprocesses end to end.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipeline.cli import main
from pipeline.run_dir import EMBEDDED_DIR

from .tiny_run import build_tiny_run

SR = 24000
REPO = Path(__file__).resolve().parents[2]


def _tune(seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    pitch = 220.0 * 2 ** (np.floor(t * 4) % 5 / 12)
    return (0.3 * np.sin(2 * np.pi * np.cumsum(pitch) / SR)).astype(np.float32)


def _write_audio(folder: Path) -> None:
    """Odd audio files the cases point at."""
    folder.mkdir()
    sf.write(folder / "dc.wav", np.full(SR, 0.5, np.float32), SR, subtype="FLOAT")
    sf.write(folder / "noise.wav", np.random.default_rng(0).normal(0, 0.2, SR).astype(np.float32), SR, subtype="FLOAT")
    sf.write(folder / "silence.wav", np.zeros(SR, np.float32), SR)
    nan = _tune()
    nan[100:200] = np.nan
    sf.write(folder / "nan.wav", nan, SR, subtype="FLOAT")
    inf = _tune()
    inf[5] = np.inf
    sf.write(folder / "inf.wav", inf, SR, subtype="FLOAT")
    sf.write(folder / "one.wav", np.full(1, 0.5, np.float32), SR)
    # Two hours at 1 kHz, 8-bit: a 7 MB file whose header says 7200 s.
    sf.write(folder / "two_hours.wav", np.full(7200 * 1000, 0.25, np.float32), 1000, subtype="PCM_U8")
    (folder / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    (folder / "truncated.flac").write_bytes((b"fLaC" + bytes(range(256)) * 4))
    spaced = folder / "dir with space"
    spaced.mkdir()
    sf.write(spaced / "mélodie ñ.wav", nan, SR, subtype="FLOAT")
    (folder / "latin1.txt").write_bytes("caf\xe9 jazz\n".encode("latin-1"))
    (folder / "latin1.csv").write_bytes("path,caption\na.wav,caf\xe9\n".encode("latin-1"))
    (folder / "bad_split.csv").write_text("path,caption,split\na.wav,calm,holdout\n")
    junk = folder / "junk"
    junk.mkdir()
    (junk / "a.wav").write_bytes(b"not audio")
    (folder / "bad.jsonl").write_text('{"id": "a", "path": "x.wav"\n')
    (folder / "nan_manifest.jsonl").write_text(json.dumps(
        {"id": "n", "path": str(folder / "nan.wav"), "seconds": 1.5, "sample_rate": SR, "caption": "x"}) + "\n")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """runs/tiny (random, melody-capable), runs/broken (a truncated stage checkpoint) and audio/."""
    root = tmp_path_factory.mktemp("bad")
    tiny = build_tiny_run(root / "runs" / "tiny", melody=True)
    broken = root / "runs" / "broken"
    shutil.copytree(tiny.root, broken)
    model = broken / "stages" / "semantic" / "model.pt"
    model.write_bytes(model.read_bytes()[:200])
    plain = root / "runs" / "plain"
    build_tiny_run(plain)
    _write_audio(root / "audio")
    return root


@pytest.fixture
def ws(workspace, monkeypatch):
    monkeypatch.setenv("STRATA_RUNS", str(workspace / "runs"))
    monkeypatch.chdir(workspace)
    return workspace


def tree_digest(root: Path) -> str:
    """Hash of every path and file's bytes under root: any write, new file or deletion changes it."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


A = "audio/"
EMB = ["--run", "embedded", "--out", "out/x.wav"]
CASES = {
    # generate: sampling and generation values (shipped weights)
    "top-k negative": (["generate", "piano", "--top-k", "-5", *EMB], "--top-k must be at least 0"),
    "cfg nan": (["generate", "piano", "--cfg-scale", "nan", *EMB], "--cfg-scale must be a finite"),
    "cfg negative": (["generate", "piano", "--cfg-scale", "-1", *EMB], "--cfg-scale must be in"),
    "cfg huge": (["generate", "piano", "--cfg-scale", "1e9", *EMB], "--cfg-scale must be in"),
    "melody scale negative": (["generate", "piano", "--melody-scale", "-2", *EMB], "--melody-scale must be in"),
    "melody sweep not numbers": (["eval", "--run", "embedded", "--melody-sweep", "low,high"], "comma-separated numbers"),
    "melody sweep negative": (["eval", "--run", "embedded", "--melody-sweep", "0,-1"], "values in [0, 100]"),
    "ladder where no value": (["eval", "--run", "embedded", "--ladder-where", "drums"], "ATTRIBUTE=VALUE"),
    "ladder where unknown attribute": (["eval", "--run", "embedded", "--ladder-where", "pitch=C"], "ATTRIBUTE=VALUE"),
    "ladder rows unknown": (["eval", "--run", "embedded", "--ladder-where", "drums=yes", "--ladder-rows", "real,fake"],
                            "--ladder-rows takes rows among"),
    "ladder rows alone": (["eval", "--run", "embedded", "--ladder-rows", "real"], "--ladder-rows needs --ladder-where"),
    "eval temperature negative": (["eval", "--run", "embedded", "--temperature", "1", "-1", "0.4"],
                                  "--temperature must be in [0, inf) (coarse stage)"),
    "eval temperature two values": (["eval", "--run", "embedded", "--temperature", "1", "2"], "1 value or 3"),
    "eval rescore not a report": (["eval", "--rescore", A], "is not an eval report folder"),
    "top-p above 1": (["generate", "piano", "--top-p", "1.7", *EMB], "--top-p must be in [0, 1]"),
    "top-p negative": (["generate", "piano", "--top-p", "-0.1", *EMB], "--top-p must be in [0, 1]"),
    "temperature negative": (["generate", "piano", "--temperature", "-1", *EMB], "--temperature must be in"),
    "temperature inf": (["generate", "piano", "--temperature", "inf", *EMB], "--temperature must be a finite"),
    "temperature nan one stage": (["generate", "piano", "--temperature", "1", "nan", "1", *EMB], "coarse stage"),
    "top-k two values": (["generate", "piano", "--top-k", "1", "2", *EMB], "1 value or 3"),
    "top-k not integer": (["generate", "piano", "--top-k", "2.5", *EMB], "invalid int value"),
    "seed negative": (["generate", "piano", "--seed", "-1", *EMB], "--seed must be between"),
    "seed too big": (["generate", "piano", "--seed", str(2**64), *EMB], "--seed must be between"),
    "num-samples 0": (["generate", "piano", "--num-samples", "0", *EMB], "--num-samples must be between"),
    "num-samples huge": (["generate", "piano", "--num-samples", "100000", *EMB], "--num-samples must be between"),
    "best-of 0": (["generate", "piano", "--best-of", "0", *EMB], "--best-of must be between"),
    "semantic candidates 0": (["generate", "piano", "--semantic-candidates", "0", *EMB],
                              "--semantic-candidates must be between"),
    "semantic candidates 17 in eval": (["eval", "--run", "embedded", "--semantic-candidates", "17"],
                                       "--semantic-candidates must be between"),
    "seconds nan": (["generate", "piano", "--seconds", "nan", *EMB], "--seconds must be a finite"),
    "seconds inf": (["generate", "piano", "--seconds", "inf", *EMB], "--seconds must be a finite"),
    "segment-seconds 0": (["generate", "--story", "a", "b", "--segment-seconds", "0", *EMB], "--segment-seconds must be in"),
    "out not wav": (["generate", "piano", "--run", "embedded", "--out", "out/x.mp3"], "must be a .wav"),
    "prompts file not utf-8": (["generate", "--prompts-file", A + "latin1.txt", *EMB], "not UTF-8"),
    # generate: audio inputs
    "melody DC": (["generate", "piano", "--melody", A + "dc.wav", *EMB], "the melody file has no pitched content"),
    "melody white noise": (["generate", "piano", "--melody", A + "noise.wav", *EMB], "no pitched content"),
    "melody silence": (["generate", "piano", "--melody", A + "silence.wav", *EMB], "silent"),
    "melody one sample": (["generate", "piano", "--melody", A + "one.wav", *EMB], "too short (1 sample"),
    "melody two hours": (["generate", "piano", "--melody", A + "two_hours.wav", *EMB], "7200 s long"),
    "melody corrupt": (["generate", "piano", "--melody", A + "corrupt.wav", *EMB], "cannot read audio file"),
    "melody truncated flac": (["generate", "piano", "--melody", A + "truncated.flac", *EMB], "cannot read audio file"),
    "melody missing": (["generate", "piano", "--melody", A + "nope.wav", *EMB], "audio file not found"),
    "melody non-ascii path with NaN": (["generate", "piano", "--melody", A + "dir with space/mélodie ñ.wav", *EMB],
                                       "non-finite samples"),
    "prompt-audio NaN": (["generate", "piano", "--prompt-audio", A + "nan.wav", *EMB], "non-finite samples"),
    "prompt-audio inf": (["generate", "piano", "--prompt-audio", A + "inf.wav", *EMB], "non-finite samples"),
    "prompt-audio a folder": (["generate", "piano", "--prompt-audio", A + "junk", *EMB], "audio file not found"),
    # generate on the tiny runs: config values, checkpoints, runs
    "override temperature negative": (["generate", "piano", "stages.fine.temperature=-1", "--run", "tiny"],
                                      "--temperature must be in [0, inf) (fine stage)"),
    "override unknown key": (["generate", "piano", "generate.cfg_scal=2", "--run", "tiny"], "unknown config key"),
    "truncated checkpoint": (["generate", "piano", "--run", "broken", "--seconds", "0.5"], "truncated or corrupt"),
    "melody on a run without melody": (["generate", "piano", "--run", "plain", "--seconds", "0.5",
                                        "--melody", A + "noise.wav"], "no pitched content"),
    "missing run": (["generate", "piano", "--run", "nope"], "does not exist"),
    # data
    "manifest missing folder": (["data", "manifest", "--audio-dir", "nope", "--out", "out/m.jsonl"], "not found"),
    "manifest only junk": (["data", "manifest", "--audio-dir", A + "junk", "--out", "out/m.jsonl"], "no readable audio"),
    "manifest captions not utf-8": (["data", "manifest", "--audio-dir", A, "--captions", A + "latin1.csv",
                                     "--out", "out/m.jsonl"], "not UTF-8"),
    "manifest bad split": (["data", "manifest", "--audio-dir", A, "--captions", A + "bad_split.csv",
                            "--out", "out/m.jsonl"], "'holdout' is not one of"),
    "manifest out and run": (["data", "manifest", "--audio-dir", A, "--out", "out/m.jsonl", "--run", "tiny"],
                             "exactly one of"),
    "synth zero clips": (["data", "synth", "--out", "out/synth", "--num-clips", "0"], "--num-clips must be at least 1"),
    "synth nan seconds": (["data", "synth", "--out", "out/synth", "--seconds", "nan"], "--seconds must be in (0, 120]"),
    "synth zero workers": (["data", "synth", "--out", "out/synth", "--workers", "0"], "workers"),
    # tokenize
    "tokenize missing run": (["tokenize", "--run", "nope"], "does not exist"),
    "tokenize missing manifest": (["tokenize", "--run", "tiny", "--manifest", "nope.jsonl"], "no manifest at nope.jsonl"),
    "tokenize bad manifest": (["tokenize", "--run", "tiny", "--manifest", A + "bad.jsonl"], "not valid JSON"),
    # train
    "train stage no cache": (["train", "stage", "--stage", "semantic", "--run", "tiny"], "cache"),
    "train codec wrong key": (["train", "codec", "--run", "tiny", "train.lrr=1"], "lrr"),
    "train clap missing run": (["train", "clap", "--run", "nope"], "does not exist"),
    "train stage bad value": (["train", "stage", "--stage", "fine", "--run", "tiny", "train.lr=abc"], "train.lr"),
    # audit, eval, export
    "audit no cache": (["audit", "--run", "tiny"], "cache"),
    "audit missing run": (["audit", "--run", "nope"], "does not exist"),
    "eval missing manifest": (["eval", "--run", "tiny", "--manifest", "nope.jsonl"], "manifest not found"),
    "eval bad split": (["eval", "--run", "tiny", "--manifest", A + "nan_manifest.jsonl", "--split", "bogus"], "bogus"),
    "eval codec missing run": (["eval", "codec", "--run", "nope"], "does not exist"),
    "export missing run": (["export", "--run", "nope", "--to", "out/exp"], "does not exist"),
    "export truncated checkpoint": (["export", "--run", "broken", "--to", "out/exp"], "truncated or corrupt"),
    # global flags
    "threads zero": (["--threads", "0", "init", "--run", "t0"], "--threads must be at least 1"),
}


def _main(argv: list[str]) -> int:
    """main() with argparse's usage errors (SystemExit) read as their exit code."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(ws, capsys, name):
    argv, fragment = CASES[name]
    before = tree_digest(ws)
    embedded_before = sorted(p.name for p in EMBEDDED_DIR.iterdir())
    code = _main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, (name, err)
    assert len(lines) == 1 and lines[0].startswith("strata: error: "), lines
    assert "Traceback" not in err
    assert fragment in lines[0], lines[0]
    assert tree_digest(ws) == before
    assert sorted(p.name for p in EMBEDDED_DIR.iterdir()) == embedded_before


def test_strata_threads_env_bad_value(ws, capsys, monkeypatch):
    monkeypatch.setenv("STRATA_THREADS", "many")
    before = tree_digest(ws)
    assert main(["init", "--run", "t1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "STRATA_THREADS must be a whole number" in lines[0]
    assert tree_digest(ws) == before


@pytest.mark.parametrize("argv", [
    ["generate", "piano", "--run", "embedded", "--top-k", "-5", "--out", "out/y.wav"],
    ["generate", "piano", "--run", "embedded", "--melody", "audio/dc.wav", "--out", "out/y.wav"],
    ["data", "manifest", "--audio-dir", "audio", "--captions", "audio/latin1.csv", "--out", "out/m.jsonl"],
])
def test_end_to_end_no_traceback(ws, argv):
    before = tree_digest(ws)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", *argv], capture_output=True, text=True, env=env, cwd=ws)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert tree_digest(ws) == before
