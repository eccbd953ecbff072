"""`strata eval [what]`: evaluation of a run, whole-system (default) or per component."""
from __future__ import annotations

import argparse
import importlib

# what -> (module under pipeline.commands, one-line help). Each module defines add_arguments(p) and run(args).
EVAL_TARGETS: dict[str, tuple[str, str]] = {}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a run or one component: " + ", ".join(EVAL_TARGETS), description=__doc__)
    targets = p.add_subparsers(dest="eval_target", metavar="WHAT")
    for name, (module_name, help_text) in EVAL_TARGETS.items():
        module = importlib.import_module(f"{__package__}.{module_name}")
        tp = targets.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(tp)
        tp.set_defaults(func=module.run)
    p.set_defaults(func=lambda args: p.error("choose what to evaluate: " + ", ".join(EVAL_TARGETS)))
