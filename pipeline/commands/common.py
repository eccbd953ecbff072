"""Arguments and helpers shared by several subcommands."""
from __future__ import annotations

import argparse
import importlib

from ..errors import UserError
from ..run_dir import RunDir


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


def resume_decision(args: argparse.Namespace, has_state: bool, where: object) -> bool:
    """True to continue the saved state, False to start from scratch (the caller discards the state when args.restart).

    Saved state with neither flag is an error, so a typo never silently retrains or silently continues.
    """
    resume, restart = bool(getattr(args, "resume", False)), bool(getattr(args, "restart", False))
    if resume and restart:
        raise UserError("--resume and --restart contradict each other: pick one")
    if restart or not has_state:
        if resume:
            print(f"note: no training state in {where} yet: starting fresh", flush=True)
        return False
    if not resume:
        raise UserError(f"{where} holds an earlier training state: pass --resume to continue it or --restart to discard it")
    return True
