"""The training recipe: synthetic data -> every tokenizer -> token cache -> three stages.

One recipe, three budgets: `smoke` (a few minutes, checks that every step runs), `demo-train` (about an hour on 2 CPU
cores) and `embedded` (the long runs that produced the shipped weights). Each step is a `strata` command; a step whose output exists is skipped, and every trainer resumes
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
    "demo-train": {"clips": 300, "melody_pairs": 24, "codec": 12, "clap": 6, "melody": 3, "semantic_ssl": 5,
                   "semantic": 9, "coarse": 12, "fine": 8},
    "smoke": {"clips": 48, "melody_pairs": 4, "codec": 0.5, "clap": 0.5, "melody": 0.3, "semantic_ssl": 0.3,
              "semantic": 0.5, "coarse": 0.5, "fine": 0.5},
    "embedded": {"clips": 5000, "melody_pairs": 330, "windows_per_piece": 6, "codec": 101, "clap": 13, "melody": 4,
                 "semantic_ssl": 15, "semantic": 70, "coarse": 100, "fine": 55},
}


@dataclass(frozen=True)
class RecipeStep:
    """One command of the recipe, the file whose existence marks it done (None: always run, it resumes itself),
    and its expected minutes."""

    name: str
    argv: tuple[str, ...]
    done_marker: str | None
    minutes: float

    def done(self, run: RunDir) -> bool:
        return self.done_marker is not None and (run.root / self.done_marker).exists()


def recipe_steps(run: RunDir, scale: str) -> list[RecipeStep]:
    """The ordered steps for `run` at budget `scale`; SSL and melody training only where the profile uses them."""
    b = BUDGETS[scale]
    profile = run.load_profile()
    r = ("--run", str(run.root))

    def minutes(key: str) -> tuple[str, ...]:
        return ("--max-minutes", f"{b[key]:g}")

    # Thousands of clips need more clips per corpus piece than the sources' defaults (the chorales run out).
    windows = (f"data.windows_per_piece={int(b['windows_per_piece'])}",) if "windows_per_piece" in b else ()

    steps = [
        RecipeStep("synthetic data", ("data", "synth", *r, "--num-clips", str(int(b["clips"])),
                                      "--melody-pairs", str(int(b["melody_pairs"])), *windows),
                   "data/manifest.jsonl", b["clips"] / 200),
        RecipeStep("codec", ("train", "codec", *r, "--resume", *minutes("codec")), "tokenizers/codec.pt", b["codec"]),
        RecipeStep("clap + rvq", ("train", "clap", *r, "--resume", *minutes("clap")), "tokenizers/rvq.pt", b["clap"] + 1),
    ]
    if profile.semantic.source == "ssl" and not profile.semantic.pretrained:
        steps.append(RecipeStep("semantic ssl", ("train", "semantic-ssl", *r, "--resume", *minutes("semantic_ssl")),
                                "tokenizers/semantic_train.card.json", b["semantic_ssl"]))
    steps.append(RecipeStep("k-means", ("train", "kmeans", *r), "tokenizers/kmeans.pt", 3))
    if profile.melody.kind == "learned":
        steps.append(RecipeStep("melody", ("train", "melody", *r, "--resume", *minutes("melody")), "tokenizers/melody.pt",
                                b["melody"]))
    steps.append(RecipeStep("tokenize", ("tokenize", *r), None, b["clips"] / 200))
    for stage in ("semantic", "coarse", "fine"):
        steps.append(RecipeStep(f"stage {stage}", ("train", "stage", "--stage", stage, *r, "--resume", *minutes(stage)),
                                f"stages/{stage}/model.pt", b[stage]))
    return steps


def run_recipe(run: RunDir, scale: str, execute: Callable[[list[str]], int], log: Callable[[str], None] = print,
               skip: set[str] | None = None) -> dict[str, float]:
    """Run every unfinished step in order, logging progress with an ETA; returns wall seconds per executed step."""
    steps = [s for s in recipe_steps(run, scale) if s.name not in (skip or set())]
    remaining = sum(s.minutes for s in steps if not s.done(run))
    timings: dict[str, float] = {}
    started = time.perf_counter()
    for i, step in enumerate(steps, 1):
        if step.done(run):
            log(f"[{i}/{len(steps)}] {step.name}: done, skipped")
            continue
        elapsed = (time.perf_counter() - started) / 60
        log(f"[{i}/{len(steps)}] {step.name}: ~{step.minutes:.0f} min (elapsed {elapsed:.0f} min, ETA {remaining:.0f} min)")
        t0 = time.perf_counter()
        code = execute(list(step.argv))
        if code:
            raise RuntimeError(f"step '{step.name}' failed with exit code {code}; fix it and re-run to resume")
        if step.done_marker is not None and not step.done(run):
            raise RuntimeError(f"step '{step.name}' finished but {Path(step.done_marker)} is missing")
        timings[step.name] = round(time.perf_counter() - t0, 1)
        remaining = max(0.0, remaining - step.minutes)
    return timings
