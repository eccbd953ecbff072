"""A run of randomly initialised components sized by a profile: for benchmarks and tests, never for music.

Speed depends on sizes, not weights, so generation benchmarks run on this without any training.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from .profile import Profile
from .run_dir import STAGE_NAMES, RunDir


def build_random_run(root: Path, profile: Profile, rvq_fit_vectors: int = 512) -> RunDir:
    """Create `root` with random codec, small CLAP + fitted RVQ, a log-mel semantic tokenizer with random centroids,
    and three random stages per `profile`."""
    from data_prep.clap import ConditionTokenizer
    from data_prep.codec import CodecTokenizer
    from data_prep.rvq import ResidualVQ
    from data_prep.semantic import SemanticTokenizer
    from data_prep.semantic.kmeans import save_kmeans
    from stages.layout_registry import make_layout
    from stages.stage import Stage
    from stages.token_spec import TokenSpec

    torch.manual_seed(0)
    run = RunDir(root)
    run.create(profile)
    codec = CodecTokenizer.from_config(profile.codec)
    codec.save(run.tokenizer("codec"))
    cond = ConditionTokenizer.small(profile.clap)
    vectors = torch.nn.functional.normalize(torch.randn(max(rvq_fit_vectors, profile.rvq.bins), profile.clap.embed_dim), dim=1)
    cond.rvq = ResidualVQ.fit(vectors, profile.rvq.levels, profile.rvq.bins, iters=2)
    cond.save(run.tokenizer("clap"))
    cond.rvq.save(run.tokenizer("rvq"))
    semantic_cfg = replace(profile.semantic, source="mel")
    semantic = SemanticTokenizer.from_config(semantic_cfg)
    semantic.save(run.tokenizer("semantic"))
    centroids = torch.randn(semantic_cfg.kmeans.clusters, semantic.extractor.dim)
    save_kmeans(run.tokenizer("kmeans"), centroids, semantic_cfg.kmeans, inertia=0.0, source="mel")
    melody = profile.melody.kind == "chroma"
    tokens = TokenSpec(semantic_rate=float(semantic.rate), semantic_bins=profile.semantic.kmeans.clusters,
                       acoustic_rate=float(codec.frame_rate), codec_bins=codec.bins, n_q=codec.n_q,
                       n_coarse=codec.n_coarse, cond_levels=profile.rvq.levels, cond_bins=profile.rvq.bins,
                       melody_rate=float(profile.melody.frame_rate) if melody else 0.0,
                       melody_bins=13 if melody else 0, sample_rate=int(codec.sample_rate))
    for name in STAGE_NAMES:
        cfg = getattr(profile.stages, name)
        Stage.build(cfg.model, make_layout(name, tokens, cfg.crop_seconds, cfg.layout, cfg.melody, cfg.aligned)).save(run.stage_model(name))
    return run
