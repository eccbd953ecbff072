"""`strata audit --run R`: memorization audit of the semantic stage (MusicLM §4.4), written to runs/R/reports/audit/."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError
from .common import add_run_argument, run_dir

if TYPE_CHECKING:
    from ..audit import AuditOptions


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="memorization audit: exact/approximate matches of greedy continuations of training clips",
                       description=__doc__)
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata audit`; defaults come from the run profile's `audit` section."""
    add_run_argument(parser)
    parser.add_argument("--split", default="train", help="which cache split to audit (default: train)")
    parser.add_argument("--num-examples", type=int, default=None, help="examples to prompt (default: audit.num_examples)")
    parser.add_argument("--prompt-seconds", default=None, help="comma-separated prompt lengths in seconds, e.g. 0,1,2,4,8")
    parser.add_argument("--continuation-seconds", type=float, default=None, help="greedy continuation length (default 5)")
    parser.add_argument("--max-fpr", type=float, default=None, help="false-positive rate tau is calibrated for (default 1e-4)")
    parser.add_argument("--max-negatives", type=int, default=20000, help="negative pairs for tau calibration (default 20000)")
    parser.add_argument("--batch-size", type=int, default=16, help="examples decoded together (default 16)")
    parser.add_argument("--novelty-samples", type=int, default=0,
                        help="also generate N clips from training captions and report SIM_AA@95 (needs every stage; default 0)")
    parser.add_argument("--seed", type=int, default=0, help="example sampling and negative sampling seed")
    parser.add_argument("--out", default=None, help="report folder (default: runs/R/reports/audit)")


def run(args: argparse.Namespace) -> int:
    """Audit --run with the profile's audit settings under the given flags, then print the per-prompt match counts."""
    from ..audit import audit_options, audit_run

    rd = run_dir(args)
    options = audit_options(
        rd.load_profile(args.overrides).audit,
        split=args.split,
        num_examples=args.num_examples,
        prompt_seconds=parse_seconds(args.prompt_seconds) if args.prompt_seconds is not None else None,
        continuation_seconds=args.continuation_seconds,
        max_fpr=args.max_fpr,
        max_negatives=args.max_negatives,
        batch_size=args.batch_size,
        novelty_samples=args.novelty_samples,
        seed=args.seed,
        out_dir=Path(args.out) if args.out else None,
    )
    validate(options)
    result, out_dir = audit_run(rd, options)
    cal = result.calibration
    for row in result.per_prompt:
        print(f"prompt {row['prompt_seconds']:>4g}s: exact {row['exact_matches']}/{row['n']}  "
              f"approximate {row['approximate_matches']}/{row['n']}  trivial {row['trivial']}/{row['n']} "
              f"(near-constant continuations {row['trivial_generated']}/{row['n']})")
    print(f"tau {cal.tau:.4f} (FPR {cal.achieved_fpr:.3g} on {cal.n_negatives} non-trivial negatives, "
          f"{cal.trivial_negatives} trivial left out{'' if cal.resolvable else '; too few to resolve max-fpr'})")
    for note in result.notes:
        print(f"note: {note}")
    print(f"wrote {out_dir}/report.md")
    return 0


def parse_seconds(text: str) -> list[float]:
    """'0,1,2.5' -> [0.0, 1.0, 2.5]; a UserError for anything else."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--prompt-seconds must be comma-separated numbers, got '{text}'") from None
    if not values:
        raise UserError("--prompt-seconds is empty")
    return values


def validate(o: "AuditOptions") -> None:
    """One-line errors for values that cannot work."""
    if any(s < 0 for s in o.prompt_seconds):
        raise UserError("--prompt-seconds must be >= 0")
    if o.continuation_seconds <= 0:
        raise UserError("--continuation-seconds must be > 0")
    if not 0 < o.max_fpr < 1:
        raise UserError(f"--max-fpr must be between 0 and 1, got {o.max_fpr:g}")
    if o.num_examples < 1 or o.batch_size < 1 or o.max_negatives < 1:
        raise UserError("--num-examples, --batch-size and --max-negatives must be >= 1")
    if not 0 <= o.trivial_entropy < 1:
        raise UserError(f"audit.trivial_entropy must be in [0, 1), got {o.trivial_entropy:g}")
    if o.novelty_samples < 0:
        raise UserError("--novelty-samples must be >= 0")
