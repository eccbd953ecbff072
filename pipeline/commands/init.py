"""`strata init`: create a run directory from a profile plus overrides."""
from __future__ import annotations

import argparse

from ..profile import available_profiles, load_profile
from ..run_dir import RunDir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create runs/<name>/ with a resolved profile", description=__doc__)
    p.add_argument("--run", required=True, help="run name under runs/ (or a path)")
    p.add_argument("--profile", default="tiny", help=f"profile name ({', '.join(available_profiles())}) or YAML path")
    p.add_argument("overrides", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, e.g. train.lr=1e-4")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile, args.overrides)
    run_dir = RunDir.from_arg(args.run)
    run_dir.create(profile)
    print(f"created {run_dir.root} (profile {profile.name}); config at {run_dir.config_path}")
    return 0
