"""`strata demo` (shipped weights -> runs/<run>/REPORT.md) and `strata demo-train` (the whole recipe from scratch)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from ..run_dir import EMBEDDED_NAME, RunDir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="generate from shipped weights, run eval + audit, write REPORT.md", description=__doc__)
    p.add_argument("--run", default="demo", help="output run folder under runs/ (default: demo)")
    p.add_argument("--weights", default=EMBEDDED_NAME, help="run whose weights to use (default: the embedded weights)")
    p.add_argument("--seconds", type=float, default=10.0, help="clip length (default 10)")
    p.set_defaults(func=run_demo_command)
    t = sub.add_parser("demo-train", help="train every component from scratch on CPU, then run the demo on the result",
                       description=__doc__)
    t.add_argument("--run", default="demo-train", help="run folder under runs/ (default: demo-train)")
    t.add_argument("--scale", choices=("smoke", "demo-train", "embedded"), default="demo-train",
                   help="step budgets: smoke (minutes, checks every step), demo-train (~1 h on 2 cores) or embedded "
                        "(the shipped weights' long runs)")
    t.add_argument("--seconds", type=float, default=10.0, help="demo clip length (default 10)")
    t.set_defaults(func=run_demo_train_command)


def run_demo_command(args: argparse.Namespace) -> int:
    """Generate every clip kind from --weights, run the quick eval and the audit, and write REPORT.md under --run."""
    from ..demo import Demo, run_demo

    weights = RunDir.from_arg(args.weights).require()
    out = RunDir.from_arg(args.run).root
    report = run_demo(Demo(weights, out, seconds=args.seconds))
    print(f"wrote {report}")
    return 0


def run_demo_train_command(args: argparse.Namespace) -> int:
    """Run the training recipe into --run (each step a `strata` command line), then the demo on the result."""
    from ..demo import Demo, run_demo
    from ..profile import load_profile
    from ..recipe import run_recipe

    run = RunDir.from_arg(args.run)
    if not run.exists():
        run.create(load_profile("tiny"))
    try:
        run_recipe(run, args.scale, args.run_command)
    except RuntimeError as exc:
        raise UserError(str(exc)) from None
    embedded_metrics = RunDir.from_arg(EMBEDDED_NAME).reports_dir / "eval" / "metrics.json"
    report = run_demo(Demo(run, Path(run.root) / "demo", seconds=args.seconds, compare_with=embedded_metrics))
    print(f"wrote {report}")
    return 0
