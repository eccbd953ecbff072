"""How much timbre a codec keeps: a judge fitted on clean clips only, scored on held-out clips clean and after each
codec's round trip. The judge never sees codec audio, so any drop is what the codec removed or added; a second judge
fitted on the codec's own round trips tells those two apart."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from training.files import atomic_path, atomic_write_text

from .judge import IndependentJudge


def codec_timbre(train: np.ndarray, train_labels: Mapping[str, list[str]], test_clean: np.ndarray,
                 test_codecs: Mapping[str, np.ndarray], test_labels: Mapping[str, list[str]], seed: int = 0,
                 train_codecs: Mapping[str, np.ndarray] | None = None) -> dict:
    """{"clean": accuracy per attribute, <codec name>: accuracy per attribute, ...} of one clean-trained judge.

    For each codec in `train_codecs` (its round trips of the train clips) also "<name>, codec-trained judge": a judge
    fitted on those round trips reads that codec's test round trips. It separates what the codec removes (this row's
    drop from clean) from how far it shifts what remains away from clean audio (this row minus the clean judge's).
    """
    judge = IndependentJudge.fit(train, dict(train_labels), seed=seed)
    out = {"clean": judge.accuracy(test_clean, dict(test_labels))}
    out.update({name: judge.accuracy(features, dict(test_labels)) for name, features in test_codecs.items()})
    for name, features in (train_codecs or {}).items():
        own = IndependentJudge.fit(features, dict(train_labels), seed=seed)
        out[f"{name}, codec-trained judge"] = own.accuracy(test_codecs[name], dict(test_labels))
    return out


def write_timbre_curve(out_dir: Path, curves: Mapping[str, Sequence[Mapping]], clean: Mapping[str, float]) -> None:
    """curve.md and curve.png: the judge's accuracy on each training snapshot's round trip, one line per codec run,
    against training minutes (steps where a run logged no rate); `clean` is the accuracy on clean clips, the ceiling.

    Each point holds "step", "minutes" (or None), "parameters" and one accuracy per attribute in `clean`.
    """
    attributes = [name for name in ("family", "drums") if name in clean] or sorted(clean)
    lines = ["# Codec timbre learning curve", "",
             "Accuracy of one judge fitted on clean train clips, on held-out clips after each snapshot's round trip. "
             + "Clean clips: " + ", ".join(f"{name} {clean[name]:.3f}" for name in attributes) + ".", "",
             "| run | parameters | step | minutes | " + " | ".join(attributes) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(attributes)]
    for run, points in curves.items():
        for p in points:
            minutes = "" if p.get("minutes") is None else f"{p['minutes']:.1f}"
            lines.append(f"| {run} | {p['parameters']:,} | {p['step']} | {minutes} | "
                         + " | ".join(f"{p[name]:.3f}" for name in attributes) + " |")
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "curve.md", "\n".join(lines) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = all(p.get("minutes") is not None for points in curves.values() for p in points)
    fig, axes = plt.subplots(1, len(attributes), figsize=(5 * len(attributes), 3.5), squeeze=False)
    for ax, name in zip(axes[0], attributes):
        for run, points in curves.items():
            xs = [p["minutes"] if timed else p["step"] for p in points]
            label = f"{run} ({points[0]['parameters'] / 1e6:.1f}M)" if points else run
            ax.plot(xs, [p[name] for p in points], "o-", label=label)
        ax.axhline(clean[name], color="gray", lw=0.8, ls="--", label="clean")
        ax.set_xlabel("training minutes" if timed else "step"), ax.set_ylabel(f"{name} accuracy via codec")
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out_dir / "curve.png") as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
