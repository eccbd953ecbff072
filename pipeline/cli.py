"""The `strata` command line: parses arguments, dispatches to pipeline/commands, maps errors to exit codes."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Sequence

from data_prep.errors import DataError
from stages.errors import StageError
from training.errors import CheckpointError

from .commands import audit, bench, data, demo, eval as eval_cmd, export, generate, init, tokenize, train
from .errors import UserError
from .threads import apply_threads, set_passive_wait

EXIT_USER_ERROR = 2
COMMANDS = (init, data, train, tokenize, generate, eval_cmd, audit, bench, export, demo)
USER_ERRORS: tuple[type[BaseException], ...] = (UserError, DataError, StageError, CheckpointError)


class _Parser(argparse.ArgumentParser):
    """argparse that exits with code 2 and one line on usage errors (its default also exits 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"strata: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(EXIT_USER_ERROR)


def build_parser() -> argparse.ArgumentParser:
    """The full parser tree; each command module adds its own subparser."""
    parser = _Parser(
        prog="strata",
        description="Strata: MusicLM-style text-to-music. Train on your music, generate from text, "
        "audit a model for memorization.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    parser.add_argument("--quiet", action="store_true", help="no progress bars, warnings only")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="compute threads (default: $STRATA_THREADS, else $OMP_NUM_THREADS, else the free cores)")
    # A command that runs other command lines (the training recipe) finds this entry point on its arguments, so no
    # command module imports the CLI.
    parser.set_defaults(run_command=run_command_line)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `strata` console script; returns the process exit code."""
    set_passive_wait()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR
    _configure_output(quiet=args.quiet)
    try:
        apply_threads(args.threads)
        result = args.func(args)
    except USER_ERRORS as exc:
        if args.debug:
            raise
        sys.stderr.write(f"strata: error: {exc}\n")
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("strata: interrupted; finished work is kept and a re-run resumes\n")
        return 130
    return int(result or 0)


def run_command_line(argv: list[str]) -> int:
    """Run one `strata` command line in this process and return its exit code (argparse's exits included)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def _configure_output(quiet: bool) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if quiet:
        os.environ["TQDM_DISABLE"] = "1"
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


if __name__ == "__main__":
    sys.exit(main())
