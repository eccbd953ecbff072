"""Source pieces from music21's bundled corpus, parsed once into plain note lists (cached as JSON).

A piece is named by a ref: a corpus-relative path, plus `#N` (the ABC `X:` number) for files that hold many tunes.
Parsing is the slow part of the corpus build, so each parsed piece is cached under the cache dir and reused.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from training.files import atomic_write_text

CACHE_VERSION = 1
MIN_NOTES = 8
METERS = ("2/4", "3/4", "4/4", "2/2", "3/2", "4/2", "6/4", "3/8", "6/8", "9/8", "12/8")


@dataclass(frozen=True)
class Source:
    """A group of corpus pieces drawn as one unit (the corpus draws evenly across sources).

    windows: clips cut from one piece by default (long, slow-to-parse pieces give more).
    """

    name: str
    folders: tuple[str, ...]
    suffixes: tuple[str, ...]
    polyphonic: bool
    default_style: str
    windows: int
    name_pattern: str = ""


SOURCES: dict[str, Source] = {
    "chorale": Source("chorale", ("bach",), (".mxl", ".xml"), True, "chorale", 3, r"^bwv[\d.]+\.(mxl|xml)$"),
    "fiddle": Source("fiddle", ("ryansMammoth", "oneills1850"), (".abc",), False, "fiddle tune", 3),
    "folk": Source("folk", ("essenFolksong",), (".abc",), False, "folk song", 2, r"^(?!test).*\.abc$"),
    "renaissance": Source("renaissance", ("palestrina",), (".krn",), True, "renaissance polyphony", 6),
}

DANCE_WORDS = {
    "slip jig": "slip jig", "slipjig": "slip jig", "double jig": "jig", "single jig": "jig", "jig": "jig",
    "reel": "reel", "hornpipe": "hornpipe", "strathspey": "strathspey", "highland fling": "highland fling",
    "fling": "highland fling", "clog": "clog", "waltz": "waltz", "march": "march", "polka": "polka",
    "air": "air", "slide": "slide", "walkaround": "walkaround", "schottische": "schottische", "mazurka": "mazurka",
}


@dataclass
class PieceNotes:
    """One parsed piece: parts (top voice first) as [onset_ql, dur_ql, midi] lists, bar lines, meter and key."""

    ref: str
    source: str
    title: str
    style: str
    tonic: int
    mode: str
    meters: list[list[Any]]
    bars: list[float]
    length: float
    parts: list[list[list[float]]]

    def meter_at(self, offset: float) -> str:
        """Time signature (e.g. '6/8') in force at `offset` quarter notes."""
        current = self.meters[0][1]
        for start, ratio in self.meters:
            if start <= offset + 1e-9:
                current = ratio
        return current


def corpus_root() -> Path:
    """Folder of music21's bundled corpus."""
    import music21.corpus

    return Path(music21.corpus.__file__).resolve().parent


def default_cache_dir() -> Path:
    """$STRATA_CACHE/synth_notes (default ~/.cache/strata/synth_notes)."""
    root = os.environ.get("STRATA_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "strata")
    return Path(root) / "synth_notes"


def list_pieces(source: Source) -> list[str]:
    """Every piece ref of a source, sorted (ABC files with several tunes give one ref per X: number)."""
    root = corpus_root()
    pattern = re.compile(source.name_pattern) if source.name_pattern else None
    refs: list[str] = []
    for folder in source.folders:
        for path in sorted((root / folder).iterdir()):
            if path.suffix not in source.suffixes or (pattern and not pattern.match(path.name)):
                continue
            rel = f"{folder}/{path.name}"
            if path.suffix == ".abc":
                numbers = re.findall(r"^X:\s*(\d+)", path.read_text(errors="replace"), flags=re.M)
                refs.extend(f"{rel}#{n}" for n in dict.fromkeys(numbers))
            else:
                refs.append(rel)
    return refs


def load_piece(ref: str, source: Source, cache_dir: Path) -> PieceNotes:
    """Parsed notes of `ref`, from the JSON cache when present; raises on unusable pieces."""
    import music21

    digest = hashlib.md5(f"{CACHE_VERSION}|{music21.__version__}|{ref}".encode()).hexdigest()[:16]
    cache_path = cache_dir / source.name / f"{digest}.json"
    if cache_path.is_file():
        try:
            return PieceNotes(**json.loads(cache_path.read_text()))
        except (ValueError, TypeError):
            pass
    piece = parse_piece(ref, source)
    text = json.dumps(asdict(piece), separators=(",", ":"))
    atomic_write_text(cache_path, text)
    return PieceNotes(**json.loads(text))


def _abc_block(path: Path, number: str) -> str:
    text = path.read_text(errors="replace")
    blocks = re.split(r"^(?=X:)", text, flags=re.M)
    for block in blocks:
        match = re.match(r"X:\s*(\d+)", block)
        if match and match.group(1) == number:
            return block
    return ""


def _dance_style(block: str, default: str) -> str:
    rhythm = " ".join(re.findall(r"^R:\s*(.*)$", block, flags=re.M)).lower()
    titles = " ".join(re.findall(r"^T:\s*(.*)$", block, flags=re.M)).lower()
    for text in (rhythm, titles):
        for word, style in DANCE_WORDS.items():
            if re.search(rf"\b{word}s?\b", text):
                return style
    return default


def _num(value: Any) -> float:
    return float(Fraction(value)) if isinstance(value, Fraction) else float(value)


def parse_piece(ref: str, source: Source) -> PieceNotes:
    """Parse one corpus piece with music21 into a PieceNotes; raises ValueError if it has no usable music."""
    from music21 import converter, harmony, key, meter, stream

    rel, _, number = ref.partition("#")
    path = corpus_root() / rel
    score = converter.parse(str(path), number=int(number)) if number else converter.parse(str(path))
    if isinstance(score, stream.Opus):
        score = score.scores[0]
    style, title = source.default_style, ""
    if number:
        block = _abc_block(path, number)
        if source.name == "fiddle":
            style = _dance_style(block, source.default_style)
        titles = re.findall(r"^T:\s*(.*)$", block, flags=re.M)
        title = titles[0].strip() if titles else ""
    if not title and score.metadata is not None and score.metadata.title:
        title = str(score.metadata.title)
    title = title or Path(rel).stem
    parts_streams = list(score.parts) or [score]
    parts: list[list[list[float]]] = []
    for part in parts_streams:
        notes = []
        for n in part.flatten().stripTies().notes:
            if isinstance(n, harmony.ChordSymbol):
                continue
            dur = _num(n.quarterLength)
            if dur <= 0:
                continue
            onset = _num(n.offset)
            for p in n.pitches:
                notes.append([onset, dur, float(p.midi)])
        if notes:
            notes.sort()
            parts.append(notes)
    if not parts or sum(len(p) for p in parts) < MIN_NOTES:
        raise ValueError(f"{ref}: fewer than {MIN_NOTES} notes")
    parts.sort(key=lambda p: -sum(n[2] for n in p) / len(p))
    if source.polyphonic and len(parts) < 2:
        raise ValueError(f"{ref}: expected several voices, found {len(parts)}")
    if not source.polyphonic:
        parts = parts[:1]
    first = parts_streams[0]
    measures = list(first.getElementsByClass(stream.Measure))
    bars = sorted({_num(m.offset) for m in measures})
    if measures and _num(measures[0].duration.quarterLength) < _num(measures[0].barDuration.quarterLength) - 1e-6:
        bars = [b for b in bars if b > 0] or [0.0]
    bars = bars or [0.0]
    flat = first.flatten()
    meters = [
        [_num(ts.getOffsetBySite(flat)), f"{ts.numerator}/{ts.denominator}"]
        for ts in flat.getElementsByClass(meter.TimeSignature)
        if f"{ts.numerator}/{ts.denominator}" in METERS
    ]
    if not meters and not list(flat.getElementsByClass(meter.TimeSignature)):
        meters = [[0.0, "4/4"]]
    if not meters:
        raise ValueError(f"{ref}: no common time signature")
    found = next(iter(score.recurse().getElementsByClass(key.Key)), None)
    if found is None or found.mode not in ("major", "minor", "dorian", "mixolydian", "lydian", "phrygian", "aeolian", "ionian"):
        found = score.analyze("key")
    mode = {"ionian": "major", "aeolian": "minor"}.get(found.mode, found.mode)
    length = max(n[0] + n[1] for p in parts for n in p)
    return PieceNotes(
        ref=ref,
        source=source.name,
        title=title,
        style=style,
        tonic=int(found.tonic.pitchClass),
        mode=mode,
        meters=meters,
        bars=bars,
        length=length,
        parts=parts,
    )
