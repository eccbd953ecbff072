"""One resume rule for every trainer: saved state needs --resume or --restart, both is an error, --resume alone starts fresh."""
import argparse

import pytest

from pipeline.cli import main
from pipeline.commands.common import add_resume_arguments, resume_decision
from pipeline.errors import UserError


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_resume_arguments(parser, "state/")
    return parser.parse_args(list(argv))


def test_rule(capsys):
    assert resume_decision(_args("--resume"), True, "state/") is True
    assert resume_decision(_args("--restart"), True, "state/") is False
    assert resume_decision(_args("--fresh"), True, "state/") is False  # deprecated alias of --restart
    assert resume_decision(_args(), False, "state/") is False
    assert resume_decision(_args("--resume"), False, "state/") is False
    assert "starting fresh" in capsys.readouterr().out
    with pytest.raises(UserError, match="pass --resume to continue it or --restart"):
        resume_decision(_args(), True, "state/")
    with pytest.raises(UserError, match="contradict"):
        resume_decision(argparse.Namespace(resume=True, restart=True), False, "state/")


@pytest.mark.parametrize("target", [["codec"], ["clap"], ["melody"], ["semantic-ssl"], ["stage", "--stage", "fine"]])
def test_every_trainer_takes_the_flags_and_refuses_both(target, tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["--quiet", "init", "--run", str(run), "--profile", "tiny"]) == 0
    with pytest.raises(SystemExit) as stop:
        main(["train", *target, "--run", str(run), "--resume", "--restart"])
    assert stop.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert not (run / "tokenizers" / "codec_train").exists()
