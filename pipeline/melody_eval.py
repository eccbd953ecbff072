"""Melodies from outside the corpus: does a generation follow a `--melody`, and what does following it cost the text?

Each melody of eval/melody_set.py (hums, whistles, square waves the corpus never had) is paired with one of the eval's
template captions. Generated clips are scored by pitch-class accuracy against the melody's notes and, by the
independent judge, for the family and drums of their caption; the sound table gives their median flatness.
`strata eval --run R --melody-sweep 0,2,4` scores the same set at several melody_scale values (the guidance towards
the melody, stages/sampling.py) and writes melody-sweep.json / melody-sweep.md.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

import torch

from training.files import atomic_write_text

from .errors import UserError
from .eval_setup import EvalOptions, features, generator, judged_setup, round_trip
from .ladder import fit_length
from .orchestrator import Strata
from .run_dir import RunDir
from .settings import MAX_CFG_SCALE

TEXT_ATTRIBUTES = ("family", "drums")


@dataclass
class MelodyInputs:
    """The melody set of one eval: names, notes, audio [M, T], and the caption and its labels per melody."""

    names: list[str]
    notes: list[list[tuple[float, float, int]]]
    melodies: torch.Tensor
    prompts: list[str]
    labels: dict[str, list[str]]


def melody_inputs(sample_rate: int, captions: list[str], labels: dict[str, list[str]], opts: EvalOptions) -> MelodyInputs:
    """opts.melodies seeded melodies of opts.seconds, melody i paired with caption i (cycling) and its labels."""
    from eval.melody_set import melody_set

    items = melody_set(sample_rate, opts.seconds, seed=opts.seed, count=opts.melodies)
    picked = [i % len(captions) for i in range(len(items))]
    wavs = fit_length(torch.stack([it.wav.float() for it in items]), int(round(opts.seconds * sample_rate)))
    return MelodyInputs([it.name for it in items], [it.notes for it in items], wavs, [captions[i] for i in picked],
                        {a: [labels[a][i] for i in picked] for a in TEXT_ATTRIBUTES})


def score_melody_clips(inputs: MelodyInputs, wav: torch.Tensor, sample_rate: int, judge=None) -> dict[str, Any]:
    """Pitch-class accuracy of clips [M * draws, T] (melody-major) or [M, T]; with a judge also the caption's judged
    family and drums and the sound statistics."""
    from eval.judge_report import sound_stats
    from eval.melody_set import pitch_class_accuracy

    draws = wav.shape[0] // len(inputs.names)
    scores = [pitch_class_accuracy(inputs.notes[i // draws], w, sample_rate) for i, w in enumerate(wav)]
    scores = [s for s in scores if s == s]
    out: dict[str, Any] = {"accuracy": sum(scores) / len(scores) if scores else None, "clips": len(scores)}
    if judge is not None:
        labels = {a: [v for v in values for _ in range(draws)] for a, values in inputs.labels.items()}
        out["text"] = judge.accuracy(features(wav, sample_rate), labels)
        out["sound"] = sound_stats(wav, sample_rate)
    return out


def melody_report(strata: Strata, gen: Callable[..., torch.Tensor], judge, captions: list[str],
                  labels: dict[str, list[str]], opts: EvalOptions) -> dict[str, Any]:
    """The eval's melody table: the melodies themselves (clean and via the codec), generations with --melody at the
    eval's melody_scale (and at 0 when that is not 0), and generations without."""
    sr = strata.sample_rate
    inputs = melody_inputs(sr, captions, labels, opts)
    scale = opts.guidance(strata.profile)[1]
    conditions = {"input melody": score_melody_clips(inputs, inputs.melodies, sr),
                  "input melody via codec": score_melody_clips(inputs, round_trip(strata, inputs.melodies), sr)}
    generated = {"generated with --melody": gen(inputs.prompts, seeds=opts.draws, melody=inputs.melodies)}
    if scale:
        generated["generated with --melody, melody_scale 0"] = gen(inputs.prompts, seeds=opts.draws,
                                                                   melody=inputs.melodies, melody_scale=0.0)
    generated["generated without"] = gen(inputs.prompts, seeds=opts.draws)
    conditions.update({name: score_melody_clips(inputs, wav, sr, judge) for name, wav in generated.items()})
    return {"names": inputs.names, "melody_scale": scale, "conditions": conditions}


def melody_sweep(run: RunDir, opts: EvalOptions, scales: list[float]) -> list[dict[str, Any]]:
    """One row per melody_scale: pitch-class accuracy, the caption's judged family and drums, median flatness; also
    written to opts.out as melody-sweep.json and melody-sweep.md."""
    from eval.judge import judge_labels

    if not scales or any(not 0 <= s <= MAX_CFG_SCALE for s in scales):
        raise UserError(f"--melody-sweep takes melody_scale values in [0, {MAX_CFG_SCALE:g}], got {scales}")
    if opts.melodies < 1:
        raise UserError("--melody-sweep needs --melodies >= 1")
    def reads_melody(strata: Strata) -> None:
        if not strata.stages["semantic"].layout.has_melody:
            raise UserError(f"run '{run.root}' was trained without melody tokens; there is no melody to follow")

    setup = judged_setup(run, opts, check=reads_melody)
    sr = setup.strata.sample_rate
    inputs = melody_inputs(sr, [r["caption"] for r in setup.test], judge_labels(setup.test), opts)
    gen = generator(setup.strata, opts)
    rows = []
    for scale in scales:
        wav = gen(inputs.prompts, seeds=opts.draws, melody=inputs.melodies, melody_scale=float(scale))
        rows.append({"melody_scale": float(scale), **score_melody_clips(inputs, wav, sr, setup.judge)})
    _write_sweep(rows, inputs, opts)
    return rows


def _write_sweep(rows: list[dict[str, Any]], inputs: MelodyInputs, opts: EvalOptions) -> None:
    opts.out.mkdir(parents=True, exist_ok=True)
    report = {"melodies": inputs.names, "prompts": inputs.prompts, "draws": opts.draws, "seed": opts.seed,
              "seconds": opts.seconds, "rows": rows}
    atomic_write_text(opts.out / "melody-sweep.json", json.dumps(report, indent=2) + "\n")
    lines = ["# Melody guidance sweep", "",
             f"{len(inputs.names)} melodies from outside the corpus × seeds {opts.seed}–{opts.seed + opts.draws - 1}, "
             f"{opts.seconds:g} s, each with a held-out template caption; family and drums by the independent judge.", "",
             "| melody_scale | pitch-class accuracy | caption's family judged | caption's drums judged | median flatness |",
             "|---:|---:|---:|---:|---:|"]
    for r in rows:
        cells = [r["accuracy"], r["text"]["family"], r["text"]["drums"], r["sound"]["flatness"]]
        lines.append(f"| {r['melody_scale']:g} | " + " | ".join("n/a" if c is None else f"{c:.3f}" for c in cells[:3])
                     + f" | {cells[3]:.4f} |")
    atomic_write_text(opts.out / "melody-sweep.md", "\n".join(lines) + "\n")
