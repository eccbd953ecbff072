"""`strata eval codec --run R`: codec reconstruction quality on held-out (solo-first) clips; with --timbre, how much
timbre the codec keeps (a clean-trained independent judge on held-out clips, clean vs round trip)."""
from __future__ import annotations

import argparse

from ..drivers.codec import eval_codec, eval_codec_timbre
from ..errors import UserError
from .common import add_run_argument, run_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata eval codec`."""
    add_run_argument(parser)
    parser.add_argument("--clips", type=int, default=30, help="held-out clips to evaluate (solo instruments first)")
    parser.add_argument("--seconds", type=float, default=10.0, help="evaluate the first N seconds of each clip")
    parser.add_argument("--checkpoint", default=None, help="codec file to evaluate (default: runs/R/tokenizers/codec.pt)")
    parser.add_argument("--untrained", action="store_true", help="also report a freshly initialised codec of the same config")
    parser.add_argument("--no-pitch", action="store_true", help="skip the pitch tracker (faster)")
    parser.add_argument("--mono", action="store_true", help="only monophonic solo clips (attributes.voices == 1)")
    parser.add_argument("--timbre", action="store_true",
                        help="instead: family/drums accuracy of a judge fitted on clean train clips, on held-out clips "
                             "clean and via the codec (writes reports/codec_timbre/)")
    parser.add_argument("--baseline", default=None, help="with --timbre: a second codec file scored by the same judge")
    parser.add_argument("--judge-clips", type=int, default=320, help="with --timbre: train clips the judge is fitted on")
    parser.add_argument("--curve", nargs="+", default=None, metavar="RUN",
                        help="with --timbre: also score every codec training snapshot of these runs and write a learning "
                             "curve (curve.md, curve.png)")


def run(args: argparse.Namespace) -> int:
    """Evaluate and write runs/R/reports/codec/{metrics.json,metrics.md,*.png} (or reports/codec_timbre/)."""
    if args.curve and not args.timbre:
        raise UserError("--curve scores codec snapshots with the timbre judge: add --timbre")
    if args.timbre:
        metrics, out = eval_codec_timbre(run_dir(args), args.checkpoint, args.baseline, args.judge_clips, args.clips,
                                         args.seconds, curve_runs=args.curve)
        for name, accuracy in metrics["accuracy"].items():
            print(f"{name}: " + ", ".join(f"{k}={v:.3f}" for k, v in accuracy.items()))
        print(f"wrote {out}/metrics.json ({metrics['test_clips']} held-out clips, judge fitted on {metrics['judge_clips']})")
        return 0
    metrics, out = eval_codec(run_dir(args), args.overrides, args.checkpoint, args.clips, args.seconds, args.mono,
                              args.untrained, pitch=not args.no_pitch)
    print(", ".join(f"{k}={v:.3f}" for k, v in metrics["summary"].items()))
    print(f"wrote {out}/metrics.json, metrics.md and spectrogram PNGs")
    return 0
