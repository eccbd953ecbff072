"""Arguments and helpers shared by several subcommands."""
from __future__ import annotations

import argparse
import importlib

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
