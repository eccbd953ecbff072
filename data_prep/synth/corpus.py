"""Build the synthetic captioned corpus: plan clips over sources, parse pieces once, render in worker processes.

Determinism: every clip's choices come from a generator seeded by (seed, clip index) and the piece it is given;
pieces are assigned in a fixed order per source, and a piece that fails is replaced by the next unused one after
each round, so the output is byte-identical whatever the worker count. Finished clips are kept as small JSON
records under DIR/.synth/records, so re-running into DIR resumes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from training.files import atomic_write_text

from ..audio_io import save_wav
from ..errors import DataError
from ..manifest import file_md5, split_for, write_manifest
from .arrange import arrange, choose_lineups, choose_shared
from .captions import caption
from .config import SynthConfig
from .render import render_events, resolve_soundfont
from .sources import SOURCES, PieceNotes, default_cache_dir, list_pieces, load_piece

log = logging.getLogger(__name__)
STATE_DIR = ".synth"
ALT_CAPTIONS = 3
FINGERPRINT_FIELDS = ("num_clips", "seconds", "sample_rate", "seed", "melody_pairs", "sources",
                      "windows_per_piece", "drum_probability", "valid_share", "test_share")


@dataclass
class Unit:
    """One clip, or a same-melody group of clips that share a window (indices into the corpus)."""

    clips: list[int]
    source: str
    slot: int = 0
    group: str | None = None


@dataclass
class Task:
    """All units drawn from one piece."""

    source: str
    ref: str
    units: list[Unit] = field(default_factory=list)


@dataclass
class Settings:
    """What a worker needs besides the task (picklable)."""

    out: str
    seconds: float
    sample_rate: int
    seed: int
    soundfont: str
    cache_dir: str
    windows_per_piece: int | None
    drum_probability: float
    valid_share: float
    test_share: float


def clip_id(index: int) -> str:
    """Stable clip id for a corpus index."""
    return f"synth-{index:05d}"


def _validate(cfg: SynthConfig) -> None:
    if cfg.num_clips < 1:
        raise DataError("--num-clips must be at least 1")
    if not 0 < cfg.seconds <= 120:  # also refuses NaN
        raise DataError("--seconds must be in (0, 120]")
    if cfg.sample_rate < 8000 or cfg.sample_rate > 96000:
        raise DataError("--sample-rate must be between 8000 and 96000")
    if cfg.melody_pairs < 0 or 2 * cfg.melody_pairs > cfg.num_clips:
        raise DataError("--melody-pairs must be between 0 and num_clips / 2 (each pair is two of the clips)")
    if cfg.workers < 1:
        raise DataError("--workers must be at least 1")
    unknown = [s for s in cfg.sources if s not in SOURCES]
    if unknown or not cfg.sources:
        raise DataError(f"unknown synth source '{unknown[0] if unknown else ''}' (available: {', '.join(SOURCES)})")
    if cfg.windows_per_piece is not None and cfg.windows_per_piece < 1:
        raise DataError("data.windows_per_piece must be at least 1")


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng([int(k) for k in keys])


def _source_key(name: str) -> int:
    return int(hashlib.md5(name.encode()).hexdigest()[:8], 16)


def plan_units(cfg: SynthConfig) -> list[Unit]:
    """Units in corpus order: single clips, then same-melody pairs; sources round-robin in a seeded order."""
    singles = cfg.num_clips - 2 * cfg.melody_pairs
    order = [cfg.sources[i] for i in _rng(cfg.seed, 1).permutation(len(cfg.sources))]
    units = [Unit([i], order[i % len(order)]) for i in range(singles)]
    for g in range(cfg.melody_pairs):
        first = singles + 2 * g
        units.append(Unit([first, first + 1], order[(singles + g) % len(order)], group=f"melody-{g:04d}"))
    return units


class _PieceQueue:
    """Each source's pieces in a seeded order, handed out one by one."""

    def __init__(self, cfg: SynthConfig):
        self._refs: dict[str, list[str]] = {}
        self._next: dict[str, int] = {}
        for name in cfg.sources:
            refs = list_pieces(SOURCES[name])
            perm = _rng(cfg.seed, 2, _source_key(name)).permutation(len(refs))
            self._refs[name] = [refs[i] for i in perm]
            self._next[name] = 0

    def take(self, source: str) -> str:
        refs, i = self._refs[source], self._next[source]
        if i >= len(refs):
            raise DataError(f"ran out of usable '{source}' pieces; ask for fewer clips or more windows per piece")
        self._next[source] = i + 1
        return refs[i]


def windows_for(source: str, per_piece: int | None) -> int:
    """Clips per piece for a source: the configured count, else the source's default."""
    return per_piece if per_piece is not None else SOURCES[source].windows


def plan_tasks(units: list[Unit], queue: _PieceQueue, per_piece: int | None) -> list[Task]:
    """Group each source's units a piece's worth at a time onto its next pieces."""
    tasks: list[Task] = []
    open_task: dict[str, Task] = {}
    for unit in units:
        task = open_task.get(unit.source)
        if task is None or len(task.units) >= windows_for(unit.source, per_piece):
            task = Task(unit.source, queue.take(unit.source))
            tasks.append(task)
            open_task[unit.source] = task
        unit.slot = len(task.units)
        task.units.append(unit)
    return tasks


def _record_path(out: Path, index: int) -> Path:
    return out / STATE_DIR / "records" / f"{clip_id(index)}.json"


def _done(out: Path, unit: Unit) -> bool:
    return all(_record_path(out, i).is_file() and (out / "audio" / f"{clip_id(i)}.wav").is_file() for i in unit.clips)


def _render_unit(piece: PieceNotes, unit: Unit, s: Settings, slots: int) -> None:
    source = SOURCES[piece.source]
    shared = choose_shared(piece, _rng(s.seed, 3, unit.clips[0]), unit.slot, slots, s.seconds, s.drum_probability)
    rngs = [_rng(s.seed, 4, i) for i in unit.clips]
    first, second = choose_lineups(rngs[0], rngs[1] if len(rngs) > 1 else None, source.polyphonic)
    for member, (index, rng, lineup) in enumerate(zip(unit.clips, rngs, (first, second))):
        clip = arrange(piece, shared, lineup, s.seconds, source.polyphonic, rng)
        audio = render_events(clip.events, clip.programs, s.seconds, s.sample_rate, s.soundfont)
        ident = clip_id(index)
        wav_path = Path(s.out) / "audio" / f"{ident}.wav"
        save_wav(wav_path, audio, s.sample_rate)
        captions = [caption(clip.attributes, rng) for _ in range(ALT_CAPTIONS)]
        record: dict[str, Any] = {
            "id": ident,
            "path": f"audio/{ident}.wav",
            "caption": captions[0],
            "seconds": float(s.seconds),
            "sample_rate": s.sample_rate,
            "md5": file_md5(wav_path),
            "split": split_for(piece.ref, s.valid_share, s.test_share),
            "attributes": clip.attributes,
            "melody": clip.melody,
            "captions": captions,
        }
        if unit.group:
            record["melody_group"] = unit.group
        atomic_write_text(_record_path(Path(s.out), index), json.dumps(record, ensure_ascii=False))


def run_task(task: Task, s: Settings) -> tuple[list[int], str]:
    """Parse the task's piece and render its unfinished units; returns (failed unit positions, reason)."""
    out = Path(s.out)
    try:
        piece = load_piece(task.ref, SOURCES[task.source], Path(s.cache_dir))
    except Exception as exc:  # any parse problem: the whole task moves to another piece
        return list(range(len(task.units))), f"parse failed: {_first_line(exc)}"
    failed: list[int] = []
    reason = ""
    for n, unit in enumerate(task.units):
        if _done(out, unit):
            continue
        try:
            _render_unit(piece, unit, s, windows_for(task.source, s.windows_per_piece))
        except Exception as exc:  # a bad window or render: this unit moves to another piece
            failed.append(n)
            reason = f"render failed: {_first_line(exc)}"
    return failed, reason


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _run_indexed(item: tuple[int, Task, Settings]) -> tuple[int, list[int], str]:
    index, task, s = item
    return (index, *run_task(task, s))


def _run_tasks(tasks: list[Task], s: Settings, workers: int, progress: bool) -> Iterator[tuple[Task, list[int], str]]:
    """Run tasks inline (1 worker) or in forked worker processes, yielding results as they finish."""
    items = [(i, t, s) for i, t in enumerate(tasks)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=sum(len(u.clips) for t in tasks for u in t.units), unit="clip", desc="synth")
    pool = None
    if workers > 1 and len(tasks) > 1:
        pool = multiprocessing.get_context("fork").Pool(min(workers, len(tasks)))
        results: Iterator = pool.imap_unordered(_run_indexed, items, chunksize=1)
    else:
        results = map(_run_indexed, items)
    try:
        for index, failed, reason in results:
            task = tasks[index]
            if bar is not None:
                bar.update(sum(len(u.clips) for u in task.units))
            yield task, failed, reason
        if pool is not None:
            pool.close()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        if bar is not None:
            bar.close()


def _fingerprint(cfg: SynthConfig, soundfont: Path) -> dict[str, Any]:
    values = {name: getattr(cfg, name) for name in FINGERPRINT_FIELDS}
    values["soundfont_md5"] = file_md5(soundfont)
    return values


def build_corpus(cfg: SynthConfig, out: str | os.PathLike, progress: bool = False) -> dict[str, Any]:
    """Render the corpus into `out` (manifest.jsonl + audio/); resumes a partial build with the same settings.

    Returns a summary: clips, replaced pieces, rendered and reused clip counts.
    """
    _validate(cfg)
    out = Path(out)
    soundfont = resolve_soundfont(cfg.soundfont)
    state = out / STATE_DIR
    fingerprint = _fingerprint(cfg, soundfont)
    fp_path = state / "settings.json"
    if fp_path.is_file():
        previous = json.loads(fp_path.read_text())
        if previous != fingerprint:
            changed = sorted(k for k in fingerprint if previous.get(k) != fingerprint[k])
            raise DataError(f"{out} holds a corpus built with different settings ({', '.join(changed)}); "
                            "use a new --out folder or delete this one")
    elif (out / "manifest.jsonl").exists():
        raise DataError(f"{out} already has a manifest.jsonl not made by `strata data synth`; use a new --out folder")
    atomic_write_text(fp_path, json.dumps(fingerprint, indent=1, sort_keys=True))
    settings = Settings(
        out=str(out), seconds=float(cfg.seconds), sample_rate=int(cfg.sample_rate), seed=int(cfg.seed),
        soundfont=str(soundfont), cache_dir=str(Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()),
        windows_per_piece=cfg.windows_per_piece, drum_probability=cfg.drum_probability,
        valid_share=cfg.valid_share, test_share=cfg.test_share,
    )
    units = plan_units(cfg)
    queue = _PieceQueue(cfg)
    tasks = plan_tasks(units, queue, cfg.windows_per_piece)
    reused = sum(len(u.clips) for u in units if _done(out, u))
    replaced = 0
    while tasks:
        todo = [t for t in tasks if not all(_done(out, u) for u in t.units)]
        failures: list[tuple[Task, list[int], str]] = []
        for task, failed, reason in _run_tasks(todo, settings, cfg.workers, progress):
            if failed:
                failures.append((task, failed, reason))
        failures.sort(key=lambda f: f[0].units[0].clips[0])
        tasks = []
        for task, failed, reason in failures:
            log.warning("piece %s: %s; replacing it", task.ref, reason)
            replaced += 1
            retry = Task(task.source, queue.take(task.source))
            for n in failed:
                unit = dataclasses.replace(task.units[n], slot=len(retry.units))
                retry.units.append(unit)
            tasks.append(retry)
    records = [json.loads(_record_path(out, i).read_text()) for i in range(cfg.num_clips)]
    write_manifest(out / "manifest.jsonl", records)
    return {"clips": len(records), "rendered": len(records) - reused, "reused": reused, "replaced_pieces": replaced,
            "manifest": str(out / "manifest.jsonl")}
