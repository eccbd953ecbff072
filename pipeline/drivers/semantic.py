"""Semantic tokenizer drivers: SSL pretraining, the k-means fit, and the NMI comparison of feature sources."""
from __future__ import annotations

import dataclasses
import json
import random
import time
from dataclasses import asdict, dataclass
from typing import Any

from training.files import atomic_write_text

from ..errors import UserError
from ..resume_rule import decide_resume
from ..run_dir import RunDir
from .records import load_mono_clips, manifest_records, warn_unreadable

WORK_DIR_NAME = "semantic_train"


@dataclass(frozen=True)
class SSLResult:
    """What an SSL training call did: the exported file, the step reached and whether all steps ran."""

    path: Any
    step: int
    total_steps: int
    loss: float
    finished: bool


def train_semantic_ssl(rd: RunDir, overrides: list[str], resume: bool, restart: bool, max_minutes: float | None,
                       command: str) -> SSLResult:
    """Train (or resume) the small wav2vec 2.0 on the run's train clips, write tokenizers/semantic.pt and a card."""
    from data_prep.semantic.train_ssl import STATE_FILE, train_ssl

    cfg = rd.load_profile(overrides).semantic
    if cfg.source != "ssl":
        raise UserError("semantic.source=mel needs no SSL training: run `strata train kmeans --run R` directly")
    if cfg.pretrained:
        raise UserError(f"semantic.pretrained={cfg.pretrained!r} is set: nothing to train (run `strata train kmeans`)")
    start = time.monotonic()
    clips = load_mono_clips(rd.manifest_path, cfg.sample_rate)
    out = rd.tokenizer("semantic")
    work = rd.tokenizers_dir / WORK_DIR_NAME
    resumed = decide_resume(resume, restart, (work / STATE_FILE).is_file(), work)
    result = train_ssl(cfg, clips, work, out, max_minutes=max_minutes, restart=not resumed)
    card = {"command": command, "result": result, "seed": cfg.train.seed, "train_clips": len(clips),
            "wall_s": round(time.monotonic() - start, 1), "semantic_config": asdict(cfg)}
    atomic_write_text(rd.tokenizers_dir / "semantic_train.card.json", json.dumps(card, indent=2) + "\n")
    return SSLResult(out, int(result["step"]), cfg.train.steps, float(result["loss"]), bool(result["finished"]))


def fit_kmeans(rd: RunDir, overrides: list[str]) -> dict[str, Any]:
    """Fit feature statistics and k-means centroids on the train clips; write semantic.pt, kmeans.pt and a card.

    Returns the fit's figures (clusters_used, frames, rate_hz, ...) with the two paths.
    """
    from data_prep.semantic.fit import fit_tokenizer
    from data_prep.semantic.kmeans import save_kmeans
    from data_prep.semantic.tokenizer import SemanticTokenizer

    cfg = rd.load_profile(overrides).semantic
    sem_path = rd.tokenizer("semantic")
    start = time.monotonic()
    if cfg.source == "mel" or cfg.pretrained:
        tok = SemanticTokenizer.from_config(cfg)
    elif sem_path.is_file():
        tok = SemanticTokenizer.load(sem_path, kmeans=cfg.kmeans, layer=cfg.layer)
        if tok.cfg.source != "ssl":
            raise UserError(f"{sem_path} holds a {tok.cfg.source} tokenizer: re-export the SSL model with "
                            f"`strata train semantic-ssl --run {rd.name}`")
    else:
        raise UserError(f"no SSL model at {sem_path}: run `strata train semantic-ssl --run {rd.name}` first "
                        "(or set semantic.source=mel, or semantic.pretrained=PATH)")
    clips = load_mono_clips(rd.manifest_path, cfg.sample_rate)
    figures = fit_tokenizer(tok, clips, cfg.sample_rate, cfg.kmeans)
    tok.save(sem_path)
    save_kmeans(rd.tokenizer("kmeans"), tok.centroids, cfg.kmeans, figures["inertia_per_frame"] * figures["frames"], cfg.source)
    figures.update(wall_s=round(time.monotonic() - start, 1), rate_hz=tok.rate, source=cfg.source, seed=cfg.kmeans.seed,
                   kmeans_config=asdict(cfg.kmeans))
    atomic_write_text(rd.tokenizers_dir / "kmeans.card.json", json.dumps(figures, indent=2) + "\n")
    return dict(figures, clusters=cfg.kmeans.clusters, semantic_path=sem_path, kmeans_path=rd.tokenizer("kmeans"))


def eval_semantic(rd: RunDir, overrides: list[str], train_clips: int, eval_clips: int, seed: int) -> tuple[dict, str]:
    """Fit each available source on the same sampled train clips, score sampled held-out clips by NMI, write
    reports/semantic/nmi.{json,md}; returns (report, markdown)."""
    from data_prep.manifest import HELD_OUT_SPLITS
    from data_prep.semantic.tokenizer import SemanticTokenizer
    from data_prep.semantic.train_ssl import load_clips
    from eval.semantic_eval import best_source, compare_sources, markdown

    cfg = rd.load_profile(overrides).semantic
    rng = random.Random(seed)
    train_rows = manifest_records(rd.manifest_path, "train")
    held = manifest_records(rd.manifest_path, *HELD_OUT_SPLITS)
    if not held:
        raise UserError(f"{rd.manifest_path} has no valid/test clips to evaluate on")
    train_rows = rng.sample(train_rows, min(train_clips, len(train_rows)))
    held = rng.sample(held, min(eval_clips, len(held)))
    fit_clips = load_clips(train_rows, cfg.sample_rate, on_error=warn_unreadable)
    held_ok, held_clips = [], []
    for row in held:
        clips = load_clips([row], cfg.sample_rate, on_error=warn_unreadable)
        if clips:
            held_ok.append(row)
            held_clips.append(clips[0])
    sources = {"mel": SemanticTokenizer.from_config(dataclasses.replace(cfg, source="mel"))}
    sem_path = rd.tokenizer("semantic")
    if cfg.pretrained:
        sources["ssl"] = SemanticTokenizer.from_config(dataclasses.replace(cfg, source="ssl"))
    elif sem_path.is_file():
        saved = SemanticTokenizer.load(sem_path, kmeans=cfg.kmeans)
        if saved.cfg.source == "ssl":
            sources["ssl"] = saved
    start = time.monotonic()
    report: dict[str, Any] = {"sources": compare_sources(sources, fit_clips, held_clips, held_ok, cfg.sample_rate)}
    if sem_path.is_file() and rd.tokenizer("kmeans").is_file():
        saved = SemanticTokenizer.load(sem_path, rd.tokenizer("kmeans"))
        report["sources"][f"saved ({saved.cfg.source})"] = compare_sources(
            {"saved": saved}, [], held_clips, held_ok, cfg.sample_rate, fit=False)["saved"]
    report.update(best=best_source({k: v for k, v in report["sources"].items() if not k.startswith("saved")}),
                  train_clips=len(fit_clips), eval_clips=len(held_clips), seed=seed,
                  clusters=cfg.kmeans.clusters, wall_s=round(time.monotonic() - start, 1))
    out = rd.reports_dir / "semantic"
    atomic_write_text(out / "nmi.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(out / "nmi.md", markdown(report))
    return report, markdown(report)
