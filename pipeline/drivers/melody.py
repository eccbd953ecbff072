"""Melody drivers: the learned melody embedding's training, its RVQ refit, and cross-instrument retrieval eval."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from training.files import atomic_write_text

from ..errors import UserError
from ..resume_rule import decide_resume
from ..run_dir import RunDir
from .records import manifest_records

WORK_DIR_NAME = "melody_train"
# --split choice -> the manifest splits it queries.
EVAL_SPLITS = {"heldout": ("valid", "test"), "train": ("train",), "all": ("train", "valid", "test")}


@dataclass(frozen=True)
class MelodyTrainResult:
    """What a melody call wrote: the tokenizer file, its RVQ shape, either training or refit figures, and the
    profile's melody.kind (stages use the learned tokens only when it is "learned")."""

    path: Path
    rvq_levels: int
    rvq_bins: int
    steps: int = 0
    final_loss: float = 0.0
    groups: int = 0
    wall_seconds: float = 0.0
    refit_windows: int | None = None
    profile_kind: str = "learned"


def train_melody(rd: RunDir, overrides: list[str], resume: bool, restart: bool, max_minutes: float | None,
                 rvq_only: bool, say: Callable[[str], None] = print) -> MelodyTrainResult:
    """Train the learned melody embedding and its RVQ on the train split (rvq_only: refit the saved one's RVQ with
    the profile's rvq_levels/rvq_bins); `say` gets a note when the corpus has no same-melody groups."""
    from data_prep.melody.tokenizer import MelodyTokenizer
    from data_prep.melody.train import compute_features, fit_melody_rvq, melody_groups
    from data_prep.melody.train import train_melody as train_embedding

    cfg = rd.load_profile(overrides).melody
    if max_minutes is not None and max_minutes <= 0:
        raise UserError("--max-minutes must be positive")
    records = manifest_records(rd.manifest_path, "train")
    if not records:
        raise UserError(f"no train-split clips in {rd.manifest_path}: build the corpus with `strata data synth --run {rd.name}`")
    groups, _ = melody_groups(records)
    if not groups:
        say("note: no same-melody groups in the corpus (make them with `strata data synth --melody-pairs K`); "
            "training on augmented self-pairs only")
    work = rd.tokenizers_dir / WORK_DIR_NAME
    out = rd.tokenizer("melody")
    if rvq_only and (resume or restart):
        raise UserError("--rvq-only trains nothing to resume or restart: drop --resume/--restart")
    if rvq_only:
        tok = MelodyTokenizer.load(out, rvq_levels=cfg.rvq_levels, rvq_bins=cfg.rvq_bins)
        fit_set = fit_melody_rvq(tok, compute_features(records, tok.config, work / "features.pt"))
        tok.save(out)
        return MelodyTrainResult(out, tok.rvq.levels, tok.rvq.bins, refit_windows=int(fit_set.shape[0]))
    resumed = decide_resume(resume, restart, (work / "state.pt").is_file(), work)
    if not resumed and work.exists():
        shutil.rmtree(work)
    tok, result = train_embedding(cfg, records, work, out, max_minutes, resume=resumed)
    return MelodyTrainResult(out, tok.rvq.levels, tok.rvq.bins, result.steps, result.final_loss, result.groups,
                             result.wall_seconds, profile_kind=cfg.kind)


def eval_melody(rd: RunDir, overrides: list[str], split: str, distractors: int) -> tuple[dict[str, Any], str, Path]:
    """R@1 of same-melody retrieval across instruments in `split` (heldout|train|all), learned embedding vs chroma,
    with up to `distractors` unpaired clips; writes reports/melody/retrieval.{json,md}, returns (report, md, folder)."""
    from data_prep.audio_io import load_record_audio
    from data_prep.melody.tokenizer import MelodyTokenizer
    from data_prep.melody.train import melody_groups
    from eval.melody_eval import report_markdown, retrieval_report

    cfg = rd.load_profile(overrides).melody
    records = manifest_records(rd.manifest_path, *EVAL_SPLITS[split])
    groups, _ = melody_groups(records)
    grouped = {i for g in groups for i in g}
    extra = [r for i, r in enumerate(records) if i not in grouped][: max(0, distractors)]
    chosen = [records[i] for g in groups for i in g] + extra
    if len(groups) < 2:
        raise UserError(f"need at least 2 same-melody groups in the {split} split of {rd.manifest_path}, found "
                        f"{len(groups)}: regenerate with `strata data synth --melody-pairs K` (or try --split all)")
    learned = MelodyTokenizer.load(rd.tokenizer("melody")) if rd.tokenizer("melody").is_file() else None
    base_cfg = learned.config if learned is not None else cfg
    chroma = MelodyTokenizer.chroma(base_cfg)
    sr = base_cfg.sample_rate
    wavs = [load_record_audio(r, sr, allow_silent=True) for r in chosen]
    report = retrieval_report(learned, chroma, chosen, wavs, sr, distractors=len(extra))
    report["split"] = split
    out = rd.reports_dir / "melody"
    atomic_write_text(out / "retrieval.json", json.dumps(report, indent=2) + "\n")
    md = report_markdown(report, rd.name)
    if learned is None:
        md += f"\nNo learned melody tokenizer in {rd.tokenizers_dir}: run `strata train melody --run {rd.name}`.\n"
    atomic_write_text(out / "retrieval.md", md)
    return report, md, out
