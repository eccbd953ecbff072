"""System metrics with their two baselines: generated clips, real test audio (upper bound), shuffled-prompt generations (lower bound).

Every metric is computed for each candidate set against the same prompts and reference:
  fad                 Frechet distance of the set's backbone embeddings to the reference embeddings (lower is better)
  kl                  mean paired KL(reference clip || candidate clip) of the attribute classifier's distributions (lower)
  clap_score          cosine between the prompt's CLAP text embedding and the clip's CLAP audio embedding (higher)
  adherence_<attr>    share of clips whose predicted attribute equals the prompt's (higher)
  melody_chroma       chroma cosine between input melody and clip, for melody-conditioned runs (higher)
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from data_prep.files import atomic_write_text

from .fad import frechet_distance
from .kl import paired_kl

SET_NAMES = ("generated", "real_test", "shuffled_prompts")
SET_TITLES = {"generated": "generated", "real_test": "real test audio (upper bound)",
              "shuffled_prompts": "shuffled prompts (lower bound)", "untrained_stages": "untrained stages",
              "melody_conditioned": "melody-conditioned"}
LOWER_IS_BETTER = ("fad", "kl")
ADHERENCE_ATTRIBUTES = ("family", "drums", "tempo_word")


@dataclass
class EvalSet:
    """One candidate set, row i made for prompt i: backbone embeddings, CLAP audio embeddings, classifier outputs."""

    fad_embeddings: torch.Tensor
    clap_audio: torch.Tensor | None = None
    attribute_probs: dict[str, torch.Tensor] = field(default_factory=dict)
    attribute_pred: dict[str, list[str]] = field(default_factory=dict)
    melody_chroma: torch.Tensor | None = None


@dataclass
class PromptSet:
    """What the clips were asked for: reference embeddings, text embeddings, prompt labels, the real clips' distributions."""

    reference_fad: torch.Tensor
    text_embeddings: torch.Tensor | None = None
    labels: dict[str, list[str]] = field(default_factory=dict)
    reference_probs: dict[str, torch.Tensor] = field(default_factory=dict)


def compute_metrics(prompts: PromptSet, sets: dict[str, EvalSet]) -> dict[str, dict[str, float | None]]:
    """{metric: {set name: value}} for every metric whose inputs are present."""
    metrics: dict[str, dict[str, float | None]] = {}
    for name, s in sets.items():
        metrics.setdefault("fad", {})[name] = frechet_distance(prompts.reference_fad, s.fad_embeddings)
        shared = [a for a in prompts.reference_probs if a in s.attribute_probs]
        if shared:
            per = {a: paired_kl(prompts.reference_probs[a], s.attribute_probs[a]) for a in shared}
            metrics.setdefault("kl", {})[name] = sum(per.values()) / len(per)
            for a, v in per.items():
                metrics.setdefault(f"kl_{a}", {})[name] = v
        if prompts.text_embeddings is not None and s.clap_audio is not None:
            cos = torch.nn.functional.cosine_similarity(s.clap_audio.double(), prompts.text_embeddings.double(), dim=1)
            metrics.setdefault("clap_score", {})[name] = float(cos.mean())
        hits = []
        for a in ADHERENCE_ATTRIBUTES:
            if a in prompts.labels and a in s.attribute_pred:
                share = sum(p == t for p, t in zip(s.attribute_pred[a], prompts.labels[a])) / max(1, len(prompts.labels[a]))
                metrics.setdefault(f"adherence_{a}", {})[name] = float(share)
                hits.append(share)
        if hits:
            metrics.setdefault("adherence", {})[name] = float(sum(hits) / len(hits))
        if s.melody_chroma is not None:
            valid = s.melody_chroma[~torch.isnan(s.melody_chroma)]
            metrics.setdefault("melody_chroma", {})[name] = float(valid.mean()) if valid.numel() else None
    return metrics


def write_metrics_report(metrics: dict[str, dict[str, float | None]], out_dir: str | os.PathLike,
                         info: dict[str, Any] | None = None, notes: list[str] | None = None) -> list[Path]:
    """metrics.json (values + info + notes) and metrics.md (one row per metric, one column per set)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"metrics": metrics, "lower_is_better": [m for m in metrics if m.split("_")[0] in LOWER_IS_BETTER],
               "info": info or {}, "notes": notes or []}
    atomic_write_text(out / "metrics.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(out / "metrics.md", render_markdown(metrics, info, notes))
    return [out / "metrics.json", out / "metrics.md"]


def render_markdown(metrics: dict[str, dict[str, float | None]], info: dict[str, Any] | None = None,
                    notes: list[str] | None = None) -> str:
    """A table: metric, direction, then generated / upper bound / lower bound, and where generated sits between them."""
    lines = ["# Evaluation", ""]
    for k, v in (info or {}).items():
        lines.append(f"- {k}: {v}")
    names = list(SET_NAMES) + sorted({s for v in metrics.values() for s in v} - set(SET_NAMES))
    lines += ["", "| metric | better | " + " | ".join(SET_TITLES.get(s, s) for s in names) + " | position |",
              "|---|:---:|" + "---:|" * (len(names) + 1)]
    for metric, values in metrics.items():
        lower = metric.split("_")[0] in LOWER_IS_BETTER
        cells = [_fmt(values.get(s)) for s in names]
        lines.append(f"| {metric} | {'lower' if lower else 'higher'} | " + " | ".join(cells) + f" | {_position(values)} |")
    lines += ["", "position: where `generated` sits from the lower bound (0) to the upper bound (1)."]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _position(values: dict[str, float | None]) -> str:
    g, hi, lo = values.get("generated"), values.get("real_test"), values.get("shuffled_prompts")
    if g is None or hi is None or lo is None or hi == lo:
        return "n/a"
    return f"{(g - lo) / (hi - lo):.2f}"
