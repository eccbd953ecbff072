"""`strata generate` from parsed flags: every value checked before weights load, then WAVs, sidecars and PNGs written."""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from data_prep.audio_io import save_wav
from data_prep.files import atomic_write_text, file_digest

from .errors import UserError
from .orchestrator import Generation, Strata
from .profile import Profile
from .run_dir import STAGE_NAMES, RunDir


def output_paths(out: str | None, run: RunDir, prompt: str, count: int) -> list[Path]:
    """WAV paths for `count` outputs: --out as given (numbered when count > 1), else under the run's generations/."""
    base = Path(out) if out else run.generations_dir / f"{_slug(prompt)}.wav"
    if count == 1:
        return [base]
    return [base.with_name(f"{base.stem}_{i:03d}{base.suffix}") for i in range(count)]


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


def validate_args(args: argparse.Namespace, profile: Profile) -> None:
    """Every flag checked before any weights load: the settings (pipeline.settings), the output path and the audio."""
    from .commands.generate import stage_values
    from .inputs import check_generation_inputs
    from .settings import settings_from

    if args.story is not None and args.prompt_audio is not None:
        raise UserError("--story and --prompt-audio cannot be combined: a story starts from its first text")
    if args.out is not None and Path(args.out).suffix.lower() != ".wav":
        raise UserError(f"--out must be a .wav path, got {args.out}")
    story = args.story is not None
    settings = settings_from(
        profile, seconds=args.seconds, num_samples=args.num_samples, best_of=args.best_of, seed=args.seed,
        cfg_scale=args.cfg_scale, story=story, segment_seconds=args.segment_seconds,
        temperature=stage_values(args.temperature, "temperature"), top_k=stage_values(args.top_k, "top-k"),
        top_p=stage_values(args.top_p, "top-p"),
    )
    if story and settings.segment_seconds * len(args.story) > profile.generate.max_seconds:
        raise UserError(f"story is {settings.segment_seconds * len(args.story):g} s long; "
                        f"the cap is {profile.generate.max_seconds:g} s")
    check_generation_inputs(args.melody, args.prompt_audio, profile.codec.sample_rate)


def generate_from_args(args: argparse.Namespace, run: RunDir, profile: Profile, prompts: list[str]) -> int:
    """Validate the CLI arguments (validate_args), run the orchestrator and write every output."""
    from .commands.generate import stage_values

    validate_args(args, profile)
    strata = Strata.from_run(run, args.overrides)
    story = args.story is not None
    common = dict(
        num_samples=args.num_samples, seed=args.seed, melody=args.melody, prompt_audio=args.prompt_audio,
        temperature=stage_values(args.temperature, "temperature"), top_k=stage_values(args.top_k, "top-k"),
        top_p=stage_values(args.top_p, "top-p"), cfg_scale=args.cfg_scale, best_of=args.best_of,
    )
    if story:
        gen = strata.generate(prompts, story=True, segment_seconds=args.segment_seconds, **common)
        groups = [prompts[0]]
    else:
        gen = strata.generate(prompts, args.seconds, **common)
        groups = prompts
    count = gen.audio.shape[0]
    if len(groups) == 1 or args.out:
        paths = output_paths(args.out, run, groups[0], count)
    else:
        paths = [p for prompt in groups for p in output_paths(None, run, prompt, args.num_samples)]
    write_outputs(gen, paths, run, args.spectrogram)
    for path in paths:
        print(path)
    total = sum(gen.timings.values())
    audio_s = gen.audio.shape[-1] / gen.sample_rate * count
    print(f"generated {count} clip(s), {audio_s:.1f} s of audio in {total:.1f} s (real-time factor {total / audio_s:.2f})")
    return 0


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:48] or "clip"
