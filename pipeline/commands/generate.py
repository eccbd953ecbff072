"""`strata generate`: text (+ melody / prompt audio / story) -> music, with a JSON sidecar per WAV."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from ..profile import Profile
from ..settings import GenerationSettings, settings_from
from .common import add_run_argument, run_dir, stage_values


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate music from a text prompt", description=__doc__)
    p.add_argument("prompt", nargs="?", default=None, help="text prompt (or use --prompts-file / --story)")
    add_run_argument(p, required=False)
    p.set_defaults(run="default")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each clip in seconds (default 10)")
    p.add_argument("--out", default=None, help="output WAV (default runs/<run>/generations/<slug>.wav); N>1 adds _000, _001, ...")
    p.add_argument("--num-samples", "--batch", dest="num_samples", type=int, default=1, help="samples per prompt, generated as one batch")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the profile's generate.seed)")
    p.add_argument("--temperature", type=float, nargs="+", metavar="T", help="1 value for all stages or 3 (semantic coarse fine); default 1.0 0.95 0.4")
    p.add_argument("--top-k", type=int, nargs="+", metavar="K", help="1 or 3 values; 0 disables")
    p.add_argument("--top-p", type=float, nargs="+", metavar="P", help="1 or 3 values; 0 disables")
    p.add_argument("--cfg-scale", type=float, default=None, help="classifier-free guidance scale (1 = off)")
    p.add_argument("--melody-scale", type=float, default=None,
                   help="extra guidance towards the --melody (0 = off; default: the profile's generate.melody_scale)")
    p.add_argument("--prompts-file", default=None, help="text file with one prompt per line")
    p.add_argument("--melody", default=None, help="audio file whose melody conditions the semantic stage")
    p.add_argument("--prompt-audio", default=None, help="audio file to continue")
    p.add_argument("--story", nargs="+", default=None, metavar="TEXT", help="story mode: one prompt per segment")
    p.add_argument("--segment-seconds", type=float, default=15.0, help="story-mode segment length (default 15)")
    p.add_argument("--best-of", type=int, default=1, help="generate N candidates per sample and keep the best by CLAP text-audio score")
    p.add_argument("--semantic-candidates", type=int, default=None, metavar="K",
                   help="semantic draws per sample; the one the text explains best is kept (default: the profile's "
                   "generate.semantic_candidates)")
    p.add_argument("--spectrogram", action="store_true", help="also write a spectrogram PNG next to each WAV")
    p.set_defaults(func=run)


def read_prompts(args: argparse.Namespace) -> list[str]:
    """The prompts to generate from, validated: non-empty, and from exactly one source."""
    sources = [s for s in ("prompt", "prompts_file", "story") if getattr(args, s)]
    if len(sources) > 1:
        flags = {"prompt": "a PROMPT argument", "prompts_file": "--prompts-file", "story": "--story"}
        raise UserError(f"use only one of {', '.join(flags[s] for s in sources)}")
    if args.prompts_file:
        path = Path(args.prompts_file)
        if not path.is_file():
            raise UserError(f"prompts file not found: {path}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise UserError(f"prompts file is not UTF-8 text: {path}") from None
        prompts = [line.strip() for line in text.splitlines() if line.strip()]
        if not prompts:
            raise UserError(f"prompts file has no prompts: {path}")
        return prompts
    if args.story is not None:
        if len(args.story) < 2 or any(not s.strip() for s in args.story):
            raise UserError("--story needs at least two non-empty texts, one per segment")
        return [s.strip() for s in args.story]
    if args.prompt is None or not args.prompt.strip():
        raise UserError("the prompt is empty: give a text description, e.g. strata generate \"calm solo piano\" --run R")
    return [args.prompt.strip()]


def settings_from_args(args: argparse.Namespace, profile: Profile, prompts: list[str]) -> GenerationSettings:
    """Every flag checked before any weights load: the sampling settings, the output path and the audio files."""
    from ..inputs import check_generation_inputs

    story = args.story is not None
    if story and args.prompt_audio is not None:
        raise UserError("--story and --prompt-audio cannot be combined: a story starts from its first text")
    if args.out is not None and Path(args.out).suffix.lower() != ".wav":
        raise UserError(f"--out must be a .wav path, got {args.out}")
    settings = settings_from(
        profile, seconds=args.seconds, num_samples=args.num_samples, best_of=args.best_of, seed=args.seed,
        cfg_scale=args.cfg_scale, melody_scale=args.melody_scale, semantic_candidates=args.semantic_candidates,
        story=story, segment_seconds=args.segment_seconds,
        temperature=stage_values(args.temperature, "temperature"), top_k=stage_values(args.top_k, "top-k"),
        top_p=stage_values(args.top_p, "top-p"),
    )
    if story and settings.segment_seconds * len(prompts) > profile.generate.max_seconds:
        raise UserError(f"story is {settings.segment_seconds * len(prompts):g} s long; "
                        f"the cap is {profile.generate.max_seconds:g} s")
    check_generation_inputs(args.melody, args.prompt_audio, profile.codec.sample_rate)
    return settings


def run(args: argparse.Namespace) -> int:
    """Flags -> checked settings -> one generate call on the loaded run -> WAVs, sidecars and a summary line."""
    from ..orchestrator import Strata
    from ..outputs import generation_paths, write_outputs

    prompts = read_prompts(args)
    run = run_dir(args)
    profile = run.load_profile(args.overrides)
    settings = settings_from_args(args, profile, prompts)
    strata = Strata.from_run(run, profile=profile)
    strata.set_generation_params(settings)
    gen = strata.generate(prompts, melody=args.melody, prompt_audio=args.prompt_audio, story=settings.story)
    paths = generation_paths(gen, run, args.out)
    write_outputs(gen, paths, run, args.spectrogram)
    for path in paths:
        print(path)
    count = gen.audio.shape[0]
    total = sum(gen.timings.values())
    audio_s = gen.audio.shape[-1] / gen.sample_rate * count
    print(f"generated {count} clip(s), {audio_s:.1f} s of audio in {total:.1f} s (real-time factor {total / audio_s:.2f})")
    return 0
