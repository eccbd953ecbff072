"""`strata train <target>`: train one component of a run (tokenizers first, then the stages)."""
from __future__ import annotations

import argparse

from .common import add_targets

# target -> (module under pipeline.commands, one-line help). Each module defines add_arguments(p) and run(args).
TARGETS: dict[str, tuple[str, str]] = {
    "semantic-ssl": ("train_semantic", "pretrain the small fairseq2 wav2vec 2.0 (self-supervised) for semantic features"),
    "kmeans": ("train_kmeans", "semantic feature statistics + faiss k-means centroids (semantic.pt, kmeans.pt)"),
    "codec": ("train_codec", "the small EnCodec-architecture acoustic codec (dead-code reset, scaled init, linear-mel loss)"),
    "clap": ("train_clap", "the small CLAP (contrastive, caption augmentation) and its conditioning RVQ"),
    "melody": ("train_melody", "the learned melody embedding (semi-hard triplets) and its RVQ"),
    "stage": ("train_stage", "a stage transformer (--stage semantic|coarse|fine) with DeepSpeed; resumable"),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a component: " + ", ".join(TARGETS), description=__doc__)
    add_targets(p, TARGETS, dest="target", metavar="TARGET")
    p.set_defaults(func=lambda args: p.error("choose a target: " + ", ".join(TARGETS)))
