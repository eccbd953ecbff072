"""Arguments and helpers shared by several subcommands."""
from __future__ import annotations

import argparse
import importlib
import shlex
import sys

from ..errors import UserError
from ..resume_rule import decide_resume
from ..run_dir import RunDir
from ..settings import STAGES


def add_run_argument(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """`--run NAME|PATH` plus `key=value` config overrides applied on top of the run's profile."""
    parser.add_argument("--run", required=required, help="run name under runs/ (or a path); 'embedded' = shipped weights")
    parser.add_argument(
        "overrides", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, e.g. train.lr=1e-4"
    )


def run_dir(args: argparse.Namespace) -> RunDir:
    """The existing run named by --run (a UserError with a hint if it was never created)."""
    return RunDir.from_arg(args.run).require()


def add_targets(parser: argparse.ArgumentParser, targets: dict[str, tuple[str, str]], dest: str, metavar: str) -> None:
    """Sub-subcommands from {name: (module under pipeline.commands, help)}; each module has add_arguments and run."""
    sub = parser.add_subparsers(dest=dest, metavar=metavar)
    for name, (module_name, help_text) in targets.items():
        module = importlib.import_module(f"{__package__}.{module_name}")
        target = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(target)
        target.set_defaults(func=module.run)


def add_resume_arguments(parser: argparse.ArgumentParser, state: str) -> None:
    """`--resume` / `--restart` with the one rule every trainer follows (see resume_decision); `state` names the folder."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true",
                       help=f"continue the saved training state in {state} (starts fresh, with a note, when there is none)")
    group.add_argument("--restart", action="store_true", help=f"discard the saved training state in {state} and start over")
    group.add_argument("--fresh", dest="restart", action="store_true", help=argparse.SUPPRESS)


def resume_flags(args: argparse.Namespace) -> tuple[bool, bool]:
    """(--resume, --restart) as parsed; absent flags count as not given."""
    return bool(getattr(args, "resume", False)), bool(getattr(args, "restart", False))


def resume_decision(args: argparse.Namespace, has_state: bool, where: object) -> bool:
    """The resume rule (pipeline.resume_rule.decide_resume) applied to the parsed --resume/--restart flags."""
    return decide_resume(*resume_flags(args), has_state, where)


def command_line() -> str:
    """The running `strata ...` command line, shell-quoted, for model cards."""
    return "strata " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def stage_values(values: list | None, name: str) -> dict[str, float] | None:
    """Expand a 1- or 3-value per-stage flag into {stage: value}."""
    if values is None:
        return None
    if len(values) == 1:
        values = values * 3
    if len(values) != 3:
        raise UserError(f"--{name} takes 1 value or 3 (semantic coarse fine), got {len(values)}")
    return dict(zip(STAGES, values))
