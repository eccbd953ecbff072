"""CLAP drivers: the small CLAP's contrastive training (or the official checkpoint), the conditioning RVQ fit, and the
zero-shot eval on held-out clips."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from training.files import atomic_write_text

from ..errors import UserError
from ..resume_rule import decide_resume
from ..run_dir import RunDir
from .records import manifest_records

WORK_DIR_NAME = "clap_train"


def _official_embeddings(tok: Any, records: list[dict]) -> Any:
    """Train-clip embeddings from the official model (slow on CPU: one forward per 10 s window)."""
    import torch

    from data_prep.audio_io import load_record_audio

    rows = [tok.embed_audio(load_record_audio(r, tok.sample_rate, allow_silent=True), tok.sample_rate) for r in records]
    return torch.cat(rows)


def train_clap(rd: RunDir, overrides: list[str], resume: bool, restart: bool, max_minutes: float | None,
               rvq_only: bool, text_only: bool = False) -> dict[str, Any]:
    """Train the small CLAP on the train split (or save the official one), then fit the RVQ on train embeddings.

    rvq_only keeps clap.pt and refits the RVQ alone; text_only fine-tunes clap.pt's text tower against its frozen
    audio tower and keeps rvq.pt. Writes clap_train/{train,rvq}_report.json and returns that summary plus `wrote`
    (what the call wrote, for the user).
    """
    import torch

    from data_prep.clap.tokenizer import ConditionTokenizer
    from data_prep.clap.train import compute_mels, crop_embeddings, fit_rvq, mel_embeddings, train_small_clap
    from data_prep.rvq import stats_dict

    profile = rd.load_profile(overrides)
    cfg, rvq_cfg = profile.clap, profile.rvq
    work = rd.tokenizers_dir / WORK_DIR_NAME
    if max_minutes is not None and max_minutes <= 0:
        raise UserError("--max-minutes must be positive")
    records = manifest_records(rd.manifest_path, "train")
    if not records:
        raise UserError(f"no train-split clips in {rd.manifest_path}: build the corpus with `strata data synth --run {rd.name}`")
    start = time.monotonic()
    extra = None
    if rvq_only and (resume or restart):
        raise UserError("--rvq-only trains nothing to resume or restart: drop --resume/--restart")
    if rvq_only and text_only:
        raise UserError("--rvq-only and --text-only exclude each other")
    if text_only:
        return _train_text_only(rd, cfg, records, work, resume, restart, max_minutes, start)
    if rvq_only:
        if not rd.tokenizer("clap").is_file():
            raise UserError(f"--rvq-only needs a trained {rd.tokenizer('clap')}: run `strata train clap --run {rd.name}`")
        tok = ConditionTokenizer.load(rd.tokenizer("clap"))
        if tok.kind == "official":
            embeddings = _official_embeddings(tok, records)
        else:
            mels = compute_mels(tok, records, work / "mels.pt")
            embeddings, extra = mel_embeddings(tok, mels), crop_embeddings(tok, mels, rvq_cfg.fit_crops, rvq_cfg.seed)
        summary: dict[str, Any] = {"kind": tok.kind, "rvq_only": True}
    elif cfg.pretrained:
        tok = ConditionTokenizer.official(cfg)
        tok.save(rd.tokenizer("clap"))
        embeddings = _official_embeddings(tok, records)
        summary = {"kind": "official", "checkpoint": cfg.pretrained}
    else:
        resumed = decide_resume(resume, restart, (work / "state.pt").is_file(), work)
        if not resumed and work.exists():
            shutil.rmtree(work)
        tok, result = train_small_clap(cfg, records, work, rd.tokenizer("clap"), max_minutes, resume=resumed)
        mels = compute_mels(tok, records, work / "mels.pt")
        embeddings, extra = mel_embeddings(tok, mels), crop_embeddings(tok, mels, rvq_cfg.fit_crops, rvq_cfg.seed)
        summary = {"kind": "small", "steps": result.steps, "final_loss": round(result.final_loss, 4),
                   "finished": result.finished, "train_clips": result.train_clips,
                   "seed": cfg.train.seed, "train_seconds": round(result.wall_seconds, 1)}
    fit_set = embeddings if extra is None else torch.cat([embeddings, extra])
    rvq = fit_rvq(fit_set, rvq_cfg, rd.tokenizer("rvq"))
    summary["rvq"] = {"levels": rvq.levels, "bins": rvq.bins, "fit_vectors": int(fit_set.shape[0]),
                      **stats_dict(rvq.stats(embeddings))}
    summary["wall_seconds"] = round(time.monotonic() - start, 1)
    report = "rvq_report.json" if rvq_only else "train_report.json"
    atomic_write_text(work / report, json.dumps(summary, indent=2) + "\n")
    wrote = str(rd.tokenizer("rvq")) if rvq_only else f"{rd.tokenizer('clap')} and {rd.tokenizer('rvq')}"
    return dict(summary, wrote=wrote)


def _train_text_only(rd: RunDir, cfg: Any, records: list[dict], work: Path, resume: bool, restart: bool,
                     max_minutes: float | None, start: float) -> dict[str, Any]:
    """Fine-tune the run's small CLAP text tower (audio tower frozen); clap.pt is replaced, rvq.pt kept."""
    from dataclasses import replace

    from data_prep.clap.tokenizer import ConditionTokenizer
    from data_prep.clap.train import compute_mels, mel_embeddings, train_small_clap
    from data_prep.rvq import stats_dict

    for name in ("clap", "rvq"):
        if not rd.tokenizer(name).is_file():
            raise UserError(f"--text-only needs a trained {rd.tokenizer(name)}: "
                            f"run `strata train clap --run {rd.name}`")
    tok = ConditionTokenizer.load(rd.tokenizer("clap"), rd.tokenizer("rvq"))
    if tok.kind != "small":
        raise UserError("--text-only fine-tunes the small CLAP; this run uses the official checkpoint")
    resumed = decide_resume(resume, restart, (work / "state.pt").is_file(), work)
    if not resumed and work.exists():
        shutil.rmtree(work)
    tok.config = replace(tok.config, train=cfg.train)
    tok, result = train_small_clap(tok.config, records, work, rd.tokenizer("clap"), max_minutes, resume=resumed,
                                   text_only_from=tok)
    embeddings = mel_embeddings(tok, compute_mels(tok, records, work / "mels.pt"))
    summary = {"kind": "small", "text_only": True, "steps": result.steps, "final_loss": round(result.final_loss, 4),
               "finished": result.finished, "train_clips": result.train_clips, "seed": cfg.train.seed,
               "train_seconds": round(result.wall_seconds, 1), "rvq": stats_dict(tok.rvq.stats(embeddings)),
               "wall_seconds": round(time.monotonic() - start, 1)}
    atomic_write_text(work / "train_report.json", json.dumps(summary, indent=2) + "\n")
    return dict(summary, wrote=str(rd.tokenizer("clap")))


def held_out_records(manifest: Path, max_clips: int = 0) -> list[dict]:
    """The valid/test records CLAP eval scores (never a train one; a record without a split is a train one), at most
    `max_clips` of them when positive."""
    from data_prep.manifest import HELD_OUT_SPLITS

    records = manifest_records(manifest, *HELD_OUT_SPLITS)
    return records[:max_clips] if max_clips > 0 else records


def eval_clap(rd: RunDir, max_clips: int) -> tuple[dict[str, Any], str, Path]:
    """Zero-shot attribute accuracy and text-audio agreement of the run's CLAP on held-out clips, before and after
    the RVQ; writes reports/clap/zero_shot.{json,md} and returns (report, markdown, report folder)."""
    import torch

    from data_prep.audio_io import load_record_audio
    from data_prep.clap.tokenizer import ConditionTokenizer
    from eval.clap_eval import evaluate_clap, report_markdown

    clap_path, rvq_path = rd.tokenizer("clap"), rd.tokenizer("rvq")
    if not clap_path.is_file() or not rvq_path.is_file():
        raise UserError(f"no trained CLAP in {rd.tokenizers_dir}: run `strata train clap --run {rd.name}` first")
    tok = ConditionTokenizer.load(clap_path, rvq_path)
    records = held_out_records(rd.manifest_path, max_clips)
    if len(records) < 2:
        raise UserError(f"need at least 2 held-out (valid/test) clips in {rd.manifest_path}, found {len(records)}")
    emb = torch.cat([tok.embed_audio(load_record_audio(r, tok.sample_rate, allow_silent=True), tok.sample_rate)
                     for r in records])
    report = evaluate_clap(tok, records, emb)
    out = rd.reports_dir / "clap"
    atomic_write_text(out / "zero_shot.json", json.dumps(report, indent=2) + "\n")
    md = report_markdown(report, rd.name)
    atomic_write_text(out / "zero_shot.md", md)
    return report, md, out
