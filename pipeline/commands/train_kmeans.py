"""`strata train kmeans --run R`: fit feature statistics and faiss k-means centroids for the semantic tokens."""
from __future__ import annotations

import argparse

from ..drivers.semantic import fit_kmeans
from .common import add_run_argument, run_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata train kmeans`."""
    add_run_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Write runs/R/tokenizers/semantic.pt (with statistics) and kmeans.pt (centroids) from the train split."""
    fit = fit_kmeans(run_dir(args), args.overrides)
    print(f"wrote {fit['semantic_path']} and {fit['kmeans_path']}: {fit['clusters']} clusters "
          f"({int(fit['clusters_used'])} used) over {int(fit['frames'])} frames at {fit['rate_hz']:g} Hz")
    return 0
