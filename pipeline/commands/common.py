"""Arguments and helpers shared by several subcommands."""
from __future__ import annotations

import argparse

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
