"""`strata eval codec --run R`: codec reconstruction quality on held-out (solo-first) clips."""
from __future__ import annotations

import argparse

from ..drivers.codec import eval_codec
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


def run(args: argparse.Namespace) -> int:
    """Evaluate and write runs/R/reports/codec/{metrics.json,metrics.md,*.png}."""
    metrics, out = eval_codec(run_dir(args), args.overrides, args.checkpoint, args.clips, args.seconds, args.mono,
                              args.untrained, pitch=not args.no_pitch)
    print(", ".join(f"{k}={v:.3f}" for k, v in metrics["summary"].items()))
    print(f"wrote {out}/metrics.json, metrics.md and spectrogram PNGs")
    return 0
