"""`make demo`: generate from shipped weights (text, melody, continuation, story), run eval + audit, write REPORT.md."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from data_prep.audio_io import load_record_audio, save_wav

from .demo_inputs import synth_melody
from .orchestrator import Generation, Strata
from .outputs import write_outputs
from .run_dir import RunDir

if TYPE_CHECKING:
    import torch

TEXT_PROMPTS = [
    "A lively fiddle reel with drums at a fast tempo.",
    "Solo piano playing a slow chorale in a minor key.",
    "Something gentle for a quiet evening: a mellow flute drifting over soft strings, no percussion.",
]
MELODY_PROMPT = "A solo violin playing a folk tune."
STORY = ["A calm church organ chorale, slow and quiet.", "An energetic fiddle jig with drums."]
EVAL_SEED = 777


@dataclass
class Clip:
    """One generated clip as the report shows it."""

    title: str
    prompt: str
    wav: Path
    note: str = ""


def synth_held_out(out: Path, num_clips: int, seed: int) -> None:
    """A fresh synthetic corpus of `num_clips` captioned clips under `out` (manifest.jsonl + audio/)."""
    from data_prep.synth.config import SynthConfig
    from data_prep.synth.corpus import build_corpus

    build_corpus(replace(SynthConfig(), num_clips=num_clips, seed=seed), out)


def quick_eval(weights: RunDir, manifest: Path, out: Path) -> None:
    """The whole-system eval's quick subset on the manifest's test split, written to `out` (metrics.md)."""
    from .eval_setup import EvalOptions
    from .evaluate import evaluate_run

    evaluate_run(weights, EvalOptions(manifest, out).quick())


def quick_audit(weights: RunDir, out: Path) -> None:
    """The memorization audit at prompt lengths 0-4 s with 5 s continuations, written to `out` (report.md)."""
    from .audit import audit_run

    config = replace(weights.load_profile().audit, prompt_seconds=[0.0, 1.0, 2.0, 4.0], continuation_seconds=5.0)
    audit_run(weights, config, out)


@dataclass(frozen=True)
class DemoSteps:
    """The demo's data, eval and audit steps as library calls (tests hand in stand-ins that write the same files)."""

    synth: Callable[[Path, int, int], None] = synth_held_out
    evaluate: Callable[[RunDir, Path, Path], None] = quick_eval
    audit: Callable[[RunDir, Path], None] = quick_audit


@dataclass
class Demo:
    """Where the demo writes, what it made and how long each step took."""

    weights: RunDir
    out: Path
    seconds: float = 10.0
    eval_clips: int = 240
    log: Callable[[str], None] = print
    compare_with: Path | None = None
    steps: DemoSteps = field(default_factory=DemoSteps)
    seams: str = ""
    clips: list[Clip] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def step(self, name: str, fn: Callable[[], object]) -> object:
        """Run one timed step, logging its name and wall time."""
        self.log(f"demo: {name} ...")
        start = time.perf_counter()
        result = fn()
        self.timings[name] = round(time.perf_counter() - start, 1)
        self.log(f"demo: {name} done in {self.timings[name]:.1f} s")
        return result

    def keep(self, gen: Generation, stem: str, titles: list[str], prompts: list[str], note: str = "") -> None:
        paths = [self.out / f"{stem}_{i}.wav" for i in range(gen.audio.shape[0])] if gen.audio.shape[0] > 1 else [self.out / f"{stem}.wav"]
        write_outputs(gen, paths, self.weights, spectrogram=True)
        self.clips += [Clip(t, p, path, note) for t, p, path in zip(titles, prompts, paths)]


def run_demo(demo: Demo) -> Path:
    """Every demo step in order: load, generate each clip kind, held-out data, eval, audit, then REPORT.md."""
    demo.out.mkdir(parents=True, exist_ok=True)
    strata: Strata = demo.step("load weights", lambda: Strata.from_run(demo.weights))
    sr = strata.sample_rate

    gen = demo.step("text prompts", lambda: strata.generate(TEXT_PROMPTS, demo.seconds, seed=0))
    demo.keep(gen, "text", [f"Text prompt {i + 1}" for i in range(3)], TEXT_PROMPTS,
              note="prompt 3 is phrased unlike the caption templates")

    melody_path = demo.out / "inputs" / "unseen_melody.wav"
    save_wav(melody_path, synth_melody(sample_rate=sr), sr)
    if strata.stages["semantic"].layout.has_melody:
        gen = demo.step("melody", lambda: strata.generate(MELODY_PROMPT, demo.seconds, melody=melody_path, seed=0))
        demo.keep(gen, "melody", ["Melody-conditioned (a tune no training clip contains)"], [MELODY_PROMPT],
                  note=f"input melody: {melody_path.relative_to(demo.out)}")
    else:
        demo.notes.append("The weights were trained without melody tokens, so the melody clip was skipped.")

    data_dir = demo.out / "data"
    demo.step("held-out clips", lambda: demo.steps.synth(data_dir, demo.eval_clips, EVAL_SEED))
    held_out = _first_test_clip(data_dir / "manifest.jsonl")
    prompt_wav = load_record_audio(held_out, sr)[: 4 * sr]
    save_wav(demo.out / "inputs" / "continuation_prompt.wav", prompt_wav, sr)
    gen = demo.step("continuation", lambda: strata.generate(held_out["caption"], demo.seconds, prompt_audio=prompt_wav, seed=0))
    demo.keep(gen, "continuation", ["Continuation of 4 s of a held-out clip"], [held_out["caption"]],
              note="input: inputs/continuation_prompt.wav")

    segment = max(1.0, demo.seconds / 2)
    gen = demo.step("story", lambda: strata.generate(STORY, story=True, segment_seconds=segment, seed=0))
    demo.keep(gen, "story", [f"Two-segment story ({segment:g} s each)"], [" → ".join(STORY)])
    demo.seams = seam_report(strata, gen.audio[0], [segment])

    demo.step("eval", lambda: demo.steps.evaluate(demo.weights, data_dir / "manifest.jsonl", demo.out / "eval"))
    demo.step("audit", lambda: demo.steps.audit(demo.weights, demo.out / "audit"))
    return write_report(demo)


def write_report(demo: Demo) -> Path:
    """REPORT.md: clips with audio links and spectrograms, eval table, audit summary and plot, step times."""
    out = demo.out
    lines = ["# Strata demo report", "",
             f"Weights: `{demo.weights.root}` (see its MODEL_CARD.md). Every clip below was generated on this machine by `make demo`.", ""]
    lines += ["## Generated clips", ""]
    for clip in demo.clips:
        rel = clip.wav.relative_to(out)
        lines += [f"### {clip.title}", "", f"Prompt: *{clip.prompt}*", "", f"Audio: [{rel}]({rel})" + (f" — {clip.note}" if clip.note else ""),
                  "", f"![spectrogram]({rel.with_suffix('.png')})", ""]
    lines += demo.notes and ["## Notes", "", *[f"- {n}" for n in demo.notes], ""] or []
    lines += ["## Seams", "", demo.seams, ""] if demo.seams else []
    for title, sub, md in (("Evaluation", "eval", "metrics.md"), ("Memorization audit", "audit", "report.md")):
        lines += [f"## {title}", ""]
        path = out / sub / md
        lines += [_demote(path.read_text(), sub), ""] if path.is_file() else [f"({sub} did not produce {md})", ""]
    if demo.compare_with is not None and demo.compare_with.is_file() and (out / "eval" / "metrics.json").is_file():
        lines += comparison_table(out / "eval" / "metrics.json", demo.compare_with)
    lines += ["## Time per step", "", "| step | seconds |", "|---|---:|"]
    lines += [f"| {name} | {secs:.1f} |" for name, secs in demo.timings.items()]
    lines += [f"| **total** | {sum(demo.timings.values()):.1f} |", ""]
    report = out / "REPORT.md"
    report.write_text("\n".join(lines))
    (out / "timings.json").write_text(json.dumps(demo.timings, indent=2) + "\n")
    return report


def seam_report(strata: Strata, wav: "torch.Tensor", segment_joins: list[float]) -> str:
    """Click check at every coarse-window join and story boundary of a generated clip (eval/rhythm.seam_ratio)."""
    from eval.rhythm import seam_ratio

    from stages.continuation import window_joins

    joins = window_joins(strata.stages["coarse"].layout, wav.numel() / strata.sample_rate) + list(segment_joins)
    ratio = seam_ratio(wav, strata.sample_rate, joins)
    return (f"Largest sample-to-sample jump within 10 ms of the story clip's {len(joins)} window joins and segment boundary, "
            f"relative to the clip's own 99th-percentile jump: **{ratio:.2f}** (a click would be well above 1).")


def comparison_table(mine: Path, reference: Path) -> list[str]:
    """Markdown rows putting this run's judged adherence and noise-likeness next to a reference run's (the embedded weights)."""
    a, b = json.loads(mine.read_text()), json.loads(reference.read_text())
    theirs = {(r["prompt_set"], r["attribute"]): r for r in b.get("adherence", [])}
    lines = ["## Compared with the embedded weights", "", "| measure | this run | embedded weights |", "|---|---:|---:|"]
    for row in a.get("adherence", []):
        other = theirs.get((row["prompt_set"], row["attribute"]))
        if other is not None:
            lines.append(f"| {row['prompt_set']} {row['attribute']}: generated (shuffled) | {row['generated']:.3f} "
                         f"({row['shuffled']:.3f}) | {other['generated']:.3f} ({other['shuffled']:.3f}) |")
    flat_a = a.get("sound", {}).get("generated_template", {}).get("flatness")
    flat_b = b.get("sound", {}).get("generated_template", {}).get("flatness")
    if flat_a is not None and flat_b is not None:
        lines.append(f"| median spectral flatness of generations | {flat_a:.3f} | {flat_b:.3f} |")
    return lines + [""]


def _demote(markdown: str, sub: str) -> str:
    """Nest an included report's headings under the section heading and point its relative links into its folder."""
    out = []
    for line in markdown.splitlines():
        if line.startswith("#"):
            line = "##" + line
        out.append(line.replace("](", f"]({sub}/").replace(f"]({sub}/http", "](http"))
    return "\n".join(out)


def _first_test_clip(manifest: Path) -> dict:
    from data_prep.manifest import read_manifest

    rows = read_manifest(manifest)
    held = [r for r in rows if r["split"] == "test"] or rows
    return held[0]
