"""`strata eval [what]`: evaluation of a run, whole-system (default) or per component."""
from __future__ import annotations

import argparse

from .common import add_targets

# what -> (module under pipeline.commands, one-line help). Each module defines add_arguments(p) and run(args).
EVAL_TARGETS: dict[str, tuple[str, str]] = {
    "semantic": ("eval_semantic", "semantic tokens: NMI with pitch class and instrument family, ssl vs mel"),
    "codec": ("eval_codec", "codec reconstruction: pitch agreement, mel distance, SI-SDR, codebook usage"),
    "clap": ("eval_clap", "CLAP zero-shot attribute accuracy and text-audio agreement, before/after RVQ"),
    "melody": ("eval_melody", "cross-instrument melody retrieval R@1: learned embedding vs chroma argmax"),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate the whole system (--run R) or one component: " + ", ".join(EVAL_TARGETS),
                       description=__doc__)
    p.add_argument("--run", help="run to evaluate (whole system: metrics.json + metrics.md with baselines)")
    p.add_argument("--manifest", help="captioned clips with train/test splits (default: the run's manifest)")
    p.add_argument("--split", default="test", help="split whose captions are generated (default: test)")
    p.add_argument("--num-samples", type=int, default=8, help="held-out captions to generate from (default 8)")
    p.add_argument("--seconds", type=float, default=10.0, help="clip length (default 10)")
    p.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    p.add_argument("--cfg-scale", type=float, default=None,
                   help="classifier-free guidance for every generated set (default: the run's generate.cfg_scale)")
    p.add_argument("--classifier-clips", type=int, default=256,
                   help="real training clips the attribute classifier learns from (default 256)")
    p.add_argument("--out", help="report folder (default: runs/R/reports/eval)")
    add_targets(p, EVAL_TARGETS, dest="eval_target", metavar="WHAT")
    p.set_defaults(func=lambda args: run_system_eval(args) if args.run else p.error(
        "give --run R for the whole-system eval, or choose a component: " + ", ".join(EVAL_TARGETS)))


def run_system_eval(args: argparse.Namespace) -> int:
    """Whole-system evaluation of --run (see pipeline/evaluate.py)."""
    from pathlib import Path

    from ..evaluate import EvalOptions, evaluate_run
    from ..run_dir import RunDir

    run = RunDir.from_arg(args.run).require()
    manifest = Path(args.manifest) if args.manifest else run.manifest_path
    out = Path(args.out) if args.out else run.reports_dir / "eval"
    opts = EvalOptions(manifest, out, args.split, args.num_samples, args.seconds, args.seed,
                       max_train_clips=args.classifier_clips, cfg_scale=args.cfg_scale)
    result = evaluate_run(run, opts)
    print(f"wrote {out / 'metrics.md'} ({len(result['fad'])} sets compared)")
    return 0
