"""`strata train kmeans --run R`: fit feature statistics and faiss k-means centroids for the semantic tokens."""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

from ..errors import UserError
from .common import add_run_argument, run_dir
from .train_semantic import load_split_clips


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `strata train kmeans`."""
    add_run_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Write runs/R/tokenizers/semantic.pt (with statistics) and kmeans.pt (centroids) from the train split."""
    from data_prep.files import atomic_write_text
    from data_prep.semantic.fit import fit_tokenizer
    from data_prep.semantic.kmeans import save_kmeans
    from data_prep.semantic.tokenizer import SemanticTokenizer

    rd = run_dir(args)
    cfg = rd.load_profile(args.overrides).semantic
    sem_path = rd.tokenizer("semantic")
    start = time.monotonic()
    if cfg.source == "mel" or cfg.pretrained:
        tok = SemanticTokenizer.from_config(cfg)
    elif sem_path.is_file():
        tok = SemanticTokenizer.load(sem_path)
        if tok.cfg.source != "ssl":
            raise UserError(f"{sem_path} holds a {tok.cfg.source} tokenizer: re-export the SSL model with "
                            f"`strata train semantic-ssl --run {args.run}`")
        tok.extractor.cfg.kmeans = cfg.kmeans
        tok.extractor.cfg.layer = cfg.layer
    else:
        raise UserError(f"no SSL model at {sem_path}: run `strata train semantic-ssl --run {args.run}` first "
                        "(or set semantic.source=mel, or semantic.pretrained=PATH)")
    clips = load_split_clips(rd.manifest_path, cfg.sample_rate)
    figures = fit_tokenizer(tok, clips, cfg.sample_rate, cfg.kmeans)
    tok.save(sem_path)
    save_kmeans(rd.tokenizer("kmeans"), tok.centroids, cfg.kmeans, figures["inertia_per_frame"] * figures["frames"], cfg.source)
    figures.update(wall_s=round(time.monotonic() - start, 1), rate_hz=tok.rate, source=cfg.source, seed=cfg.kmeans.seed,
                   kmeans_config=asdict(cfg.kmeans))
    atomic_write_text(rd.tokenizers_dir / "kmeans.card.json", json.dumps(figures, indent=2) + "\n")
    print(f"wrote {sem_path} and {rd.tokenizer('kmeans')}: {cfg.kmeans.clusters} clusters "
          f"({int(figures['clusters_used'])} used) over {int(figures['frames'])} frames at {tok.rate:g} Hz")
    return 0
