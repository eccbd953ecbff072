"""Where generated clips go and what is written with them: the WAV, a JSON sidecar, optionally a spectrogram PNG."""
from __future__ import annotations

import json
import re
from pathlib import Path

from data_prep.audio_io import save_wav
from training.files import atomic_write_text, file_digest

from .orchestrator import Generation
from .run_dir import STAGE_NAMES, RunDir


def output_paths(out: str | None, run: RunDir, prompt: str, count: int) -> list[Path]:
    """WAV paths for `count` outputs: `out` as given (numbered when count > 1), else under the run's generations/."""
    base = Path(out) if out else run.generations_dir / f"{slug(prompt)}.wav"
    if count == 1:
        return [base]
    return [base.with_name(f"{base.stem}_{i:03d}{base.suffix}") for i in range(count)]


def generation_paths(gen: Generation, run: RunDir, out: str | None = None) -> list[Path]:
    """One WAV path per row of `gen`: all under `out` (or the first prompt's name), else numbered per prompt."""
    count = gen.audio.shape[0]
    per_prompt = int(gen.settings["num_samples"])
    groups = [gen.prompts[0]] if gen.settings.get("story") else gen.prompts[::per_prompt]
    if len(groups) == 1 or out:
        return output_paths(out, run, groups[0], count)
    return [path for prompt in groups for path in output_paths(None, run, prompt, per_prompt)]


def component_hashes(run: RunDir) -> dict[str, str]:
    """Short SHA-256 of every weight file the generation used, for the sidecar."""
    files = [run.tokenizer(n) for n in ("codec", "clap", "rvq")] + [run.stage_model(s) for s in STAGE_NAMES]
    return {str(p.relative_to(run.root)): file_digest(p)[:16] for p in files if p.is_file()}


def write_outputs(gen: Generation, paths: list[Path], run: RunDir, spectrogram: bool) -> None:
    """Write each WAV then its sidecar (both atomic); the WAV appears only once complete."""
    hashes = component_hashes(run)
    for i, path in enumerate(paths):
        save_wav(path, gen.audio[i], gen.sample_rate)
        sidecar = {
            "wav": path.name,
            "prompt": gen.prompts if gen.settings.get("story") else gen.prompts[i],
            "seed": gen.seed,
            "row": i,
            "sample_rate": gen.sample_rate,
            "seconds": round(gen.audio.shape[-1] / gen.sample_rate, 3),
            "settings": gen.settings,
            "run": str(run.root),
            "checkpoints": hashes,
            "timings_s": gen.timings,
        }
        if gen.scores is not None:
            sidecar["clap_score"] = round(gen.scores[i], 4)
        atomic_write_text(path.with_suffix(".json"), json.dumps(sidecar, indent=2) + "\n")
        if spectrogram:
            from eval.plots import save_spectrogram

            save_spectrogram(gen.audio[i], gen.sample_rate, path.with_suffix(".png"), title=str(sidecar["prompt"])[:80])


def slug(text: str) -> str:
    """A file-name stem from a prompt: lower-case words joined by '-', at most 48 characters ('clip' if none)."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return name[:48] or "clip"
