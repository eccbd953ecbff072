"""`strata data synth|manifest`: build a captioned synthetic corpus, or a manifest of your own audio."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..errors import UserError
from .common import add_run_argument
from ..run_dir import RunDir

SYNTH_FLAGS = ("num_clips", "seconds", "sample_rate", "seed", "workers", "soundfont", "melody_pairs")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="build training data: synth (offline corpus) or manifest (your audio)", description=__doc__)
    kinds = p.add_subparsers(dest="data_command", metavar="KIND")
    synth = kinds.add_parser(
        "synth",
        help="render a captioned corpus from music21's bundled scores (offline)",
        description="Render captioned clips from music21's corpus (chorales, fiddle tunes, folk songs, Renaissance "
        "polyphony) through a General MIDI SoundFont; writes manifest.jsonl + audio/. Re-running resumes.",
    )
    add_synth_arguments(synth)
    synth.set_defaults(func=run_synth)
    manifest = kinds.add_parser(
        "manifest",
        help="build a manifest.jsonl from a folder of your own audio",
        description="Manifest of every soundfile-readable file under --audio-dir, with probed durations and optional "
        "captions; unreadable files go to rejects.jsonl beside the manifest.",
    )
    add_manifest_arguments(manifest)
    manifest.set_defaults(func=run_manifest)
    p.set_defaults(func=lambda args: p.error("choose synth or manifest"))


def add_synth_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `strata data synth`; unset flags take the run profile's `data` section (or SynthConfig defaults)."""
    p.add_argument("--out", help="output folder (manifest.jsonl + audio/); or use --run")
    add_run_argument(p, required=False)
    p.add_argument("--num-clips", type=int, help="number of clips (default 600)")
    p.add_argument("--seconds", type=float, help="clip length in seconds (default 10)")
    p.add_argument("--sample-rate", type=int, help="sample rate in Hz (default 24000)")
    p.add_argument("--seed", type=int, help="seed of every random choice (default 0)")
    p.add_argument("--workers", type=int, help="worker processes; output is identical for any count (default 2)")
    p.add_argument("--soundfont", help="a General MIDI .sf2 to render with (default: pretty_midi's TimGM6mb.sf2)")
    p.add_argument("--melody-pairs", type=int, help="same-melody pairs (two instruments, one window) among the clips")


def add_manifest_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `strata data manifest`."""
    p.add_argument("--audio-dir", required=True, help="folder of audio files (any format soundfile reads), searched recursively")
    p.add_argument("--captions", help="optional .csv (columns path,caption) or .jsonl ({'path':..., 'caption':...})")
    p.add_argument("--out", help="manifest to write (rejects.jsonl goes beside it); or use --run")
    p.add_argument("--split-by", choices=("files", "segments"), default="files",
                   help="files: one row per file, split by file (default); segments: one row per --segment-seconds "
                   "segment, so even one long track gets train, valid and test segments")
    p.add_argument("--segment-seconds", type=float, default=30.0,
                   help="segment length in seconds with --split-by segments (default 30)")
    add_run_argument(p, required=False)


def _output(args: argparse.Namespace) -> tuple[Path, RunDir | None]:
    if bool(args.out) == bool(args.run):
        raise UserError("give exactly one of --out PATH or --run NAME")
    if args.overrides and not args.run:
        raise UserError(f"config overrides ({args.overrides[0]}) need --run; with --out use the flags")
    if args.run:
        return Path(), RunDir.from_arg(args.run).require()
    return Path(args.out), None


def run_synth(args: argparse.Namespace) -> int:
    """Build (or resume) the synthetic corpus and print a one-line summary."""
    import logging

    from data_prep.synth.config import SynthConfig
    from data_prep.synth.corpus import build_corpus

    out, run = _output(args)
    if run is not None:
        cfg = run.load_profile(args.overrides).data
        out = run.data_dir
    else:
        cfg = SynthConfig()
    cfg = dataclasses.replace(cfg, **{k: getattr(args, k) for k in SYNTH_FLAGS if getattr(args, k) is not None})
    quiet = logging.getLogger().getEffectiveLevel() > logging.INFO
    summary = build_corpus(cfg, out, progress=not quiet)
    print(f"wrote {summary['clips']} clips ({summary['rendered']} rendered, {summary['reused']} kept from before, "
          f"{summary['replaced_pieces']} pieces replaced) -> {summary['manifest']}")
    return 0


def run_manifest(args: argparse.Namespace) -> int:
    """Build a manifest from the user's audio folder and print counts."""
    from data_prep.manifest import build_user_manifest

    out, run = _output(args)
    if run is not None:
        out = run.manifest_path
    summary = build_user_manifest(args.audio_dir, out, args.captions, split_by=args.split_by,
                                  segment_seconds=args.segment_seconds)
    rejects = out.parent / "rejects.jsonl"
    note = f"; {summary.rejected} unreadable files listed in {rejects}" if summary.rejected else ""
    unit = "segments" if args.split_by == "segments" else "clips"
    print(f"wrote {summary.rows} {unit} -> {out}{note}")
    if args.split_by == "files" and summary.few_file_folders:
        names = [str(Path(args.audio_dir) / f) for f in summary.few_file_folders[:3]]
        folders = ", ".join(names) + (", ..." if len(summary.few_file_folders) > 3 else "")
        print(f"hint: folders with fewer than 3 files ({folders}) may get no valid/test file; "
              "--split-by segments holds out time segments of each track instead")
    return 0
