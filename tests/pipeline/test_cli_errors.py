"""CLI error behaviour: one line on stderr, exit code 2, no traceback, no partial output."""
import subprocess
import sys

import pytest

from pipeline.cli import main


@pytest.fixture(autouse=True)
def _runs_root(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATA_RUNS", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("strata: error: ")
    return err[0]


def test_generate_before_any_run_says_what_to_run_first(capsys):
    assert main(["generate", "calm piano"]) == 2
    line = _one_error_line(capsys)
    assert "does not exist" in line and "strata init" in line


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["generate", ""], "prompt is empty"),
        (["generate", "   "], "prompt is empty"),
        (["generate", "a", "--story", "b", "c"], "use only one of"),
        (["generate", "--story", "only one"], "at least two"),
        (["generate", "--prompts-file", "missing.txt"], "prompts file not found"),
    ],
)
def test_generate_bad_flags(capsys, argv, fragment):
    assert main(argv) == 2
    assert fragment in _one_error_line(capsys)


def test_generate_bad_seconds_and_out(capsys):
    assert main(["init", "--run", "r"]) == 0
    capsys.readouterr()
    for argv, fragment in [
        (["--seconds", "0"], "--seconds must be in"),
        (["--seconds", "-3"], "--seconds must be in"),
        (["--seconds", "100000"], "--seconds must be in"),
        (["--out", "x.mp3"], "must be a .wav"),
        (["--num-samples", "0"], "--num-samples must be between 1"),
        (["--temperature", "1", "2"], "1 value or 3"),
    ]:
        assert main(["generate", "calm piano", "--run", "r", *argv]) == 2, argv
        assert fragment in _one_error_line(capsys), argv


def test_init_unknown_key_suggests(capsys):
    assert main(["init", "--run", "r", "train.lrr=1"]) == 2
    assert "did you mean 'train.lr'" in _one_error_line(capsys)


def test_init_refuses_to_overwrite_a_different_config(capsys):
    assert main(["init", "--run", "r"]) == 0
    assert main(["init", "--run", "r"]) == 0
    assert main(["init", "--run", "r", "train.lr=0.5"]) == 2
    assert "already exists with a different config" in _one_error_line(capsys)


def test_unknown_command_and_flag_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["generate", "x", "--no-such-flag"])
    assert info.value.code == 2


def test_help_of_every_subcommand_works():
    for argv in (["--help"], ["generate", "--help"], ["init", "--help"], ["train", "--help"], ["eval", "--help"], ["bench", "--help"], ["data", "--help"]):
        proc = subprocess.run([sys.executable, "-m", "pipeline.cli", *argv], capture_output=True, text=True)
        assert proc.returncode == 0, (argv, proc.stderr)
        assert "usage: strata" in proc.stdout


def test_no_traceback_without_debug_and_traceback_with_it(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "generate", "x", "--run", "missing"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "--debug", "generate", "x", "--run", "missing"], capture_output=True, text=True
    )
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_damaged_checkpoint_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    run = tmp_path / "runs" / "r"
    assert main(["--quiet", "init", "--run", str(run), "--profile", "tiny"]) == 0
    capsys.readouterr()
    damaged = run / "tokenizers" / "codec.pt"
    damaged.parent.mkdir(parents=True, exist_ok=True)
    damaged.write_bytes(b"PK\x03\x04 not a whole zip archive")
    assert main(["export", "--run", str(run), "--to", str(tmp_path / "shipped")]) == 2
    line = _one_error_line(capsys)
    assert str(damaged) in line
    assert not (tmp_path / "shipped").exists()
