"""`strata audit --run R`: memorization audit of the semantic stage, written to runs/R/reports/audit/."""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..profile import AuditConfig
from .common import add_run_argument, run_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="memorization audit: exact/approximate matches of greedy continuations of training clips",
                       description=__doc__)
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata audit`; each overrides its field of the run profile's `audit` section."""
    add_run_argument(parser)
    parser.add_argument("--split", default=None, help="which cache split to audit (default: audit.split, train)")
    parser.add_argument("--num-examples", type=int, default=None, help="examples to prompt (default: audit.num_examples)")
    parser.add_argument("--prompt-seconds", default=None, help="comma-separated prompt lengths in seconds, e.g. 0,1,2,4,8")
    parser.add_argument("--continuation-seconds", type=float, default=None, help="greedy continuation length (default 5)")
    parser.add_argument("--max-fpr", type=float, default=None, help="false-positive rate tau is calibrated for (default 1e-4)")
    parser.add_argument("--max-negatives", type=int, default=None, help="negative pairs for tau calibration (default 20000)")
    parser.add_argument("--batch-size", type=int, default=None, help="examples decoded together (default 16)")
    parser.add_argument("--novelty-samples", type=int, default=None,
                        help="also generate N clips from training captions and report SIM_AA@95 (needs every stage; default 0)")
    parser.add_argument("--seed", type=int, default=None, help="example sampling and negative sampling seed (default 0)")
    parser.add_argument("--out", default=None, help="report folder (default: runs/R/reports/audit)")


def run(args: argparse.Namespace) -> int:
    from ..audit import audit_run

    rd = run_dir(args)
    config = config_from_flags(rd.load_profile(args.overrides).audit, args)
    result, out_dir = audit_run(rd, config, Path(args.out) if args.out else None)
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


def config_from_flags(config: AuditConfig, args: argparse.Namespace) -> AuditConfig:
    """The profile's audit settings with every flag that was given put in place of its field."""
    flags: dict[str, Any] = {
        "split": args.split,
        "num_examples": args.num_examples,
        "prompt_seconds": None if args.prompt_seconds is None else parse_seconds(args.prompt_seconds),
        "continuation_seconds": args.continuation_seconds,
        "max_fpr": args.max_fpr,
        "max_negatives": args.max_negatives,
        "batch_size": args.batch_size,
        "novelty_samples": args.novelty_samples,
        "seed": args.seed,
    }
    return replace(config, **{name: value for name, value in flags.items() if value is not None})


def parse_seconds(text: str) -> list[float]:
    """'0,1,2.5' -> [0.0, 1.0, 2.5]; a UserError for anything else."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--prompt-seconds must be comma-separated numbers, got '{text}'") from None
    if not values:
        raise UserError("--prompt-seconds is empty")
    return values
