"""`strata eval [what]`: evaluation of a run, whole-system (default) or per component."""
from __future__ import annotations

import argparse

from ..errors import UserError
from .common import add_targets, stage_values

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
    p.add_argument("--manifest", help="captioned clips with attributes and train/test splits (default: the run's manifest)")
    p.add_argument("--split", default="test", help="split whose captions are generated (default: test)")
    p.add_argument("--prompts", type=int, default=16, help="held-out captions to generate from (default 16)")
    p.add_argument("--draws", type=int, default=3, help="generations per prompt, one per seed (--seed, --seed + 1, ...), >= 3 (default 3)")
    p.add_argument("--seconds", type=float, default=6.0, help="clip length (default 6)")
    p.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    p.add_argument("--cfg-scale", type=float, default=None,
                   help="classifier-free guidance for every generated set (default: the run's generate.cfg_scale)")
    p.add_argument("--melody-scale", type=float, default=None,
                   help="melody guidance for the sets given a melody (default: the run's generate.melody_scale)")
    p.add_argument("--semantic-candidates", type=int, default=None, metavar="K",
                   help="semantic draws per clip, the one the text explains best kept (default: the run's "
                   "generate.semantic_candidates)")
    p.add_argument("--temperature", type=float, nargs="+", metavar="T", help="sampling temperature for every generated "
                   "set: 1 value for all stages or 3 (semantic coarse fine) (default: each stage's profile temperature)")
    p.add_argument("--judge-clips", type=int, default=320, help="real training clips the independent judge learns from (default 320)")
    p.add_argument("--ladder-clips", type=int, default=8, help="held-out clips in the ablation ladder (default 8)")
    p.add_argument("--melodies", type=int, default=6, help="out-of-corpus melodies to follow (default 6; 0 skips)")
    p.add_argument("--quick", action="store_true", help="a subset: 8 prompts, 5 s clips, 200 judge clips, 4 ladder clips, 3 melodies")
    p.add_argument("--curve", metavar="STAGE", help="a learning curve instead: the quick eval of every snapshot of "
                   "this stage (runs/R/stages/STAGE/snapshots/step-N.pt); writes curve.json, curve.md, curve.png. A rerun "
                   "reuses each finished snapshot's report, so added snapshots cost only their own eval")
    p.add_argument("--melody-sweep", metavar="S,S,...", help="instead: only the melody set, generated at each of these "
                   "melody_scale values; writes melody-sweep.json and melody-sweep.md")
    p.add_argument("--ladder-where", metavar="ATTR=VALUE", help="instead: only the ablation ladder, on up to "
                   "--ladder-clips picked prompts labelled ATTR=VALUE (e.g. drums=yes), a draw per seed; writes "
                   "ladder-where.json and ladder-where.md: the share of each row's clips judged VALUE")
    p.add_argument("--ladder-rows", metavar="ROW,ROW", help="with --ladder-where: only these ladder rows (e.g. "
                   "real,generated), to compare the rows a change can move at a fraction of the cost")
    p.add_argument("--rescore", metavar="DIR", help="instead: re-score the eval report in DIR from its judged prompts "
                   "(no generation), with the current adherence rows; writes to --out (default: DIR)")
    p.add_argument("--out", help="report folder (default: runs/R/reports/eval, or runs/R/reports/curve-STAGE)")
    add_targets(p, EVAL_TARGETS, dest="eval_target", metavar="WHAT")
    p.set_defaults(func=lambda args: rescore(args) if args.rescore else run_system_eval(args) if args.run else p.error(
        "give --run R for the whole-system eval, or choose a component: " + ", ".join(EVAL_TARGETS)))


def rescore(args: argparse.Namespace) -> int:
    """Re-score a written eval report (eval/rescore.py)."""
    from pathlib import Path

    from eval.rescore import rescore_report

    folder = Path(args.rescore)
    missing = [name for name in ("metrics.json", "judged_prompts.jsonl") if not (folder / name).is_file()]
    if missing:
        raise UserError(f"{folder} is not an eval report folder: it lacks {' and '.join(missing)}")
    out = Path(args.out) if args.out else folder
    report = rescore_report(folder, out)
    print(f"wrote {out / 'metrics.md'} ({len(report['adherence'])} judged attribute rows)")
    return 0


def run_system_eval(args: argparse.Namespace) -> int:
    """Whole-system evaluation of --run (see pipeline/evaluate.py)."""
    from pathlib import Path

    from ..eval_setup import EvalOptions
    from ..evaluate import evaluate_run
    from ..run_dir import RunDir

    run = RunDir.from_arg(args.run).require()
    manifest = Path(args.manifest) if args.manifest else run.manifest_path
    out = Path(args.out) if args.out else run.reports_dir / (f"curve-{args.curve}" if args.curve else "eval")
    sweep = _scales(args.melody_sweep) if args.melody_sweep else None
    rows = None
    if args.ladder_where:
        from ..ladder import parse_rows
        from ..ladder_where import parse_where

        where = parse_where(args.ladder_where)
        rows = parse_rows(args.ladder_rows) if args.ladder_rows else None
    elif args.ladder_rows:
        raise UserError("--ladder-rows needs --ladder-where")
    opts = EvalOptions(manifest, out, args.split, args.prompts, args.draws, args.seconds, args.seed, args.judge_clips,
                       args.ladder_clips, args.melodies, cfg_scale=args.cfg_scale,
                       melody_scale=args.melody_scale, semantic_candidates=args.semantic_candidates,
                       temperature=stage_values(args.temperature, "temperature"), ladder_rows=rows)
    if args.quick or args.curve:
        opts = opts.quick()
    if args.curve:
        from ..learning_curve import learning_curve

        rows = learning_curve(run, args.curve, opts)
        print(f"wrote {out / 'curve.md'} and {out / 'curve.png'} ({len(rows)} snapshots)")
        return 0
    if sweep is not None:
        from ..melody_eval import melody_sweep

        rows = melody_sweep(run, opts, sweep)
        print(f"wrote {out / 'melody-sweep.md'} ({len(rows)} melody_scale values)")
        return 0
    if args.ladder_where:
        from ..ladder_where import ladder_where

        table = ladder_where(run, opts, *where)
        print(f"wrote {out / 'ladder-where.md'} ({len(table)} ladder rows)")
        return 0
    result = evaluate_run(run, opts)
    print(f"wrote {out / 'metrics.md'} ({len(result['adherence'])} judged attribute rows, {len(result['ladder'])} ladder rows)")
    return 0


def _scales(text: str) -> list[float]:
    """`--melody-sweep 0,2,4` as floats; UserError on anything else."""
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise UserError(f"--melody-sweep takes comma-separated numbers, e.g. 0,2,4; got {text!r}") from None
