"""How informative semantic tokens are: normalised mutual information with frame pitch class and instrument family.

Labels come from the manifest: the melody notes ([onset_s, dur_s, midi]) give each token frame a pitch class
(12 = no melody note sounding) and attributes.family gives the clip's instrument family. A shuffled-token
baseline (same token histogram, labels permuted) shows the NMI that cluster count alone produces.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from sklearn.metrics import normalized_mutual_info_score

from data_prep.semantic.fit import fit_tokenizer
from data_prep.semantic.tokenizer import SemanticTokenizer

NO_NOTE = 12


def frame_pitch_classes(notes: Sequence[Sequence[float]], n_frames: int, rate: float) -> np.ndarray:
    """Pitch class (0-11, or 12 for silence) of the melody note sounding at each frame centre."""
    labels = np.full(n_frames, NO_NOTE, dtype=np.int64)
    centres = (np.arange(n_frames) + 0.5) / rate
    for onset, dur, midi in sorted(notes, key=lambda n: n[0]):
        labels[(centres >= onset) & (centres < onset + dur)] = int(round(midi)) % 12
    return labels


def nmi(tokens: np.ndarray, labels: np.ndarray) -> float:
    """Arithmetic-mean normalised mutual information between two label arrays."""
    if tokens.size == 0:
        return 0.0
    return float(normalized_mutual_info_score(labels, tokens, average_method="arithmetic"))


def evaluate_tokens(
    tokens: Sequence[np.ndarray], records: Sequence[dict[str, Any]], rate: float, seed: int = 0
) -> dict[str, float]:
    """NMI of per-clip token arrays with pitch class (clips that have a melody) and family, plus shuffled baselines."""
    pitch_tok, pitch_lab, fam_tok, fam_lab = [], [], [], []
    families: dict[str, int] = {}
    for tok, rec in zip(tokens, records):
        if rec.get("melody"):
            pitch_tok.append(tok)
            pitch_lab.append(frame_pitch_classes(rec["melody"], len(tok), rate))
        family = (rec.get("attributes") or {}).get("family")
        if family is not None:
            fam_tok.append(tok)
            fam_lab.append(np.full(len(tok), families.setdefault(str(family), len(families)), dtype=np.int64))
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {"clips": float(len(tokens)), "frames": float(sum(len(t) for t in tokens))}
    for name, toks, labs in (("pitch_class", pitch_tok, pitch_lab), ("family", fam_tok, fam_lab)):
        if not toks:
            continue
        t, lab = np.concatenate(toks), np.concatenate(labs)
        out[f"nmi_{name}"] = round(nmi(t, lab), 4)
        out[f"nmi_{name}_shuffled"] = round(nmi(rng.permutation(t), lab), 4)
    return out


def clip_tokens(tok: SemanticTokenizer, clips: Sequence[torch.Tensor], sample_rate: int) -> list[np.ndarray]:
    """Token ids of each clip as numpy arrays."""
    return [tok.tokens(c.unsqueeze(0), sample_rate)[0].numpy() for c in clips]


def compare_sources(
    tokenizers: dict[str, SemanticTokenizer],
    train_clips: Sequence[torch.Tensor],
    eval_clips: Sequence[torch.Tensor],
    eval_records: Sequence[dict[str, Any]],
    sample_rate: int,
    fit: bool = True,
) -> dict[str, dict[str, float]]:
    """Per source: (optionally) fit statistics + k-means on the train clips, then NMI on the held-out clips."""
    report: dict[str, dict[str, float]] = {}
    for name, tok in tokenizers.items():
        figures: dict[str, float] = {"rate_hz": tok.rate}
        if fit:
            figures.update({f"fit_{k}": v for k, v in fit_tokenizer(tok, train_clips, sample_rate, tok.cfg.kmeans).items()})
        figures["clusters"] = float(tok.vocab_size)
        figures.update(evaluate_tokens(clip_tokens(tok, eval_clips, sample_rate), eval_records, tok.rate))
        report[name] = figures
    return report


def markdown(report: dict[str, Any]) -> str:
    """A short Markdown table of the comparison."""
    lines = ["# Semantic tokens: normalised mutual information (held-out clips)", "",
             "| source | clusters | rate Hz | NMI pitch class | (shuffled) | NMI family | (shuffled) |",
             "|---|---|---|---|---|---|---|"]
    for name, f in report["sources"].items():
        lines.append(
            f"| {name} | {int(f['clusters'])} | {f['rate_hz']:g} | {f.get('nmi_pitch_class', float('nan')):.4f} | "
            f"{f.get('nmi_pitch_class_shuffled', float('nan')):.4f} | {f.get('nmi_family', float('nan')):.4f} | "
            f"{f.get('nmi_family_shuffled', float('nan')):.4f} |"
        )
    if report.get("best"):
        lines += ["", f"More informative tokens: **{report['best']}** (higher mean NMI over pitch class and family)."]
    return "\n".join(lines) + "\n"


def best_source(sources: dict[str, dict[str, float]]) -> str | None:
    """The source with the highest mean of its pitch-class and family NMI."""
    scored = {
        name: np.mean([f[k] for k in ("nmi_pitch_class", "nmi_family") if k in f] or [0.0]) for name, f in sources.items()
    }
    return max(scored, key=scored.get) if scored else None
