"""The training recipe: synthetic data -> every tokenizer -> token cache -> three stages.

One recipe, two budgets: `demo-train` (about an hour on 2 CPU cores) and `embedded` (the long runs that produced the
shipped weights). Each step is a `strata` command; a step whose output exists is skipped, and every trainer resumes
from its own checkpoint, so an interrupted recipe continues where it stopped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .run_dir import RunDir

# Step budgets (minutes of training wall time, clip counts) per recipe scale.
BUDGETS: dict[str, dict[str, float]] = {
    "demo-train": {"clips": 300, "melody_pairs": 24, "codec": 12, "clap": 5, "melody": 3, "semantic_ssl": 5,
                   "semantic": 7, "coarse": 8, "fine": 6},
    "embedded": {"clips": 600, "melody_pairs": 40, "codec": 45, "clap": 10, "melody": 6, "semantic_ssl": 15,
                 "semantic": 25, "coarse": 30, "fine": 20},
}


@dataclass(frozen=True)
class RecipeStep:
    """One command of the recipe, the file whose existence marks it done, and its expected minutes."""

    name: str
    argv: tuple[str, ...]
    done_marker: str
    minutes: float


def recipe_steps(run: RunDir, scale: str) -> list[RecipeStep]:
    """The ordered steps for `run` at budget `scale`."""
    b = BUDGETS[scale]
    r = ("--run", str(run.root))

    def minutes(key: str) -> tuple[str, ...]:
        return ("--max-minutes", f"{b[key]:g}")

    steps = [
        RecipeStep("synthetic data", ("data", "synth", *r, "--num-clips", str(int(b["clips"])),
                                      "--melody-pairs", str(int(b["melody_pairs"]))), "data/manifest.jsonl", b["clips"] / 200),
        RecipeStep("codec", ("train", "codec", *r, *minutes("codec")), "tokenizers/codec.pt", b["codec"]),
        RecipeStep("clap + rvq", ("train", "clap", *r, *minutes("clap")), "tokenizers/rvq.pt", b["clap"] + 1),
        RecipeStep("semantic ssl", ("train", "semantic-ssl", *r, *minutes("semantic_ssl")), "tokenizers/semantic.pt", b["semantic_ssl"]),
        RecipeStep("k-means", ("train", "kmeans", *r), "tokenizers/kmeans.pt", 2),
        RecipeStep("melody", ("train", "melody", *r), "tokenizers/melody.pt", b["melody"]),
        RecipeStep("tokenize", ("tokenize", *r), "cache/meta.json", b["clips"] / 100),
    ]
    for stage in ("semantic", "coarse", "fine"):
        steps.append(RecipeStep(f"stage {stage}", ("train", "stage", "--stage", stage, *r, *minutes(stage)),
                                f"stages/{stage}/model.pt", b[stage]))
    return steps


def run_recipe(run: RunDir, scale: str, execute: Callable[[list[str]], int], log: Callable[[str], None] = print,
               skip: set[str] | None = None) -> dict[str, float]:
    """Run every unfinished step in order, logging progress with an ETA; returns wall seconds per executed step."""
    steps = [s for s in recipe_steps(run, scale) if s.name not in (skip or set())]
    remaining = sum(s.minutes for s in steps if not (run.root / s.done_marker).exists())
    timings: dict[str, float] = {}
    started = time.perf_counter()
    for i, step in enumerate(steps, 1):
        marker = run.root / step.done_marker
        if marker.exists():
            log(f"[{i}/{len(steps)}] {step.name}: done, skipped")
            continue
        elapsed = (time.perf_counter() - started) / 60
        log(f"[{i}/{len(steps)}] {step.name}: ~{step.minutes:.0f} min (elapsed {elapsed:.0f} min, ETA {remaining:.0f} min)")
        t0 = time.perf_counter()
        code = execute(list(step.argv))
        if code:
            raise RuntimeError(f"step '{step.name}' failed with exit code {code}; fix it and re-run to resume")
        if not marker.exists():
            raise RuntimeError(f"step '{step.name}' finished but {Path(step.done_marker)} is missing")
        timings[step.name] = round(time.perf_counter() - t0, 1)
        remaining = max(0.0, remaining - step.minutes)
    return timings
