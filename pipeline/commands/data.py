"""`strata data synth|manifest`: build a captioned synthetic corpus, or a manifest of your own audio."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="build training data: synth (offline corpus) or manifest (your audio)", description=__doc__)
    kinds = p.add_subparsers(dest="data_command", metavar="KIND")
    p.set_defaults(func=lambda args: p.error("choose synth or manifest"))
    del kinds
