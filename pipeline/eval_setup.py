"""What every judged report starts from: the eval's options, the held-out prompts, the loaded run and the fitted judge.

The judge (eval/judge.py) is fitted on real training clips and on the same clips after the run's codec round trip;
its ceilings are its accuracy on real clips via the codec, cross-validated over its training pool, and on the
held-out prompt clips clean and via the codec. `generator` draws the eval's clips
at its length and guidance, one seed per draw.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch

from .drivers.records import fixed_length_clips
from .errors import UserError
from .ladder import fit_length
from .orchestrator import Strata
from .run_dir import RunDir
from .settings import MAX_BEST_OF, MAX_CFG_SCALE, check_integer, check_real


@dataclass
class EvalOptions:
    """What to evaluate on, how much, and where to write metrics.json / metrics.md."""

    manifest: Path
    out: Path
    split: str = "test"
    prompts: int = 16
    draws: int = 3
    seconds: float = 6.0
    seed: int = 0
    judge_clips: int = 320
    ladder_clips: int = 8
    melodies: int = 6
    permutations: int = 2000
    cfg_scale: float | None = None  # None: the run's generate.cfg_scale
    melody_scale: float | None = None  # None: the run's generate.melody_scale
    semantic_candidates: int | None = None  # None: the run's generate.semantic_candidates
    temperature: dict[str, float] | None = None  # {stage: T}; None: each stage's profile temperature
    ladder_rows: tuple[str, ...] | None = None  # None: every ladder row (--ladder-where only)
    untrained: bool = True

    def check(self) -> None:
        """Reject values the eval cannot use, before anything is loaded or written."""
        if self.draws < 3:
            raise UserError(f"--draws must be at least 3 for the permutation test, got {self.draws}")
        if self.prompts < 4 or self.judge_clips < 16:
            raise UserError(f"--prompts must be >= 4 and --judge-clips >= 16, got {self.prompts} and {self.judge_clips}")
        if not 0 < self.seconds <= 30:
            raise UserError(f"--seconds must be in (0, 30], got {self.seconds:g}")
        if self.ladder_clips < 0 or self.melodies < 0:
            raise UserError("--ladder-clips and --melodies must be >= 0")
        if self.melody_scale is not None and not 0 <= self.melody_scale <= MAX_CFG_SCALE:
            raise UserError(f"--melody-scale must be in [0, {MAX_CFG_SCALE:g}], got {self.melody_scale:g}")
        if self.semantic_candidates is not None:
            check_integer(self.semantic_candidates, "--semantic-candidates", 1, MAX_BEST_OF)
        for stage, value in (self.temperature or {}).items():
            check_real(value, "--temperature", low=0.0, where=f" ({stage} stage)")
        if not self.manifest.is_file():
            raise UserError(f"manifest not found: {self.manifest}")

    def guidance(self, profile: Any) -> tuple[float, float]:
        """(cfg_scale, melody_scale) the eval generates with: its own values, else the run profile's."""
        gen = profile.generate
        return (gen.cfg_scale if self.cfg_scale is None else self.cfg_scale,
                gen.melody_scale if self.melody_scale is None else self.melody_scale)

    def quick(self) -> "EvalOptions":
        """A subset for a fast look (make demo): fewer prompts, clips and melodies, shorter clips; still 3 draws."""
        return replace(self, prompts=min(self.prompts, 8), seconds=min(self.seconds, 5.0),
                       judge_clips=min(self.judge_clips, 200), ladder_clips=min(self.ladder_clips, 4),
                       melodies=min(self.melodies, 3))


@dataclass
class JudgedSetup:
    """What every judged report starts from: the picked prompt rows, the loaded run and the fitted judge."""

    strata: Strata
    test: list[dict]
    train: list[dict]
    real_train: torch.Tensor
    real_test: torch.Tensor
    judge: Any
    ceilings: dict
    clean_on_codec: dict
    test_rt: torch.Tensor


def judged_setup(run: RunDir, opts: EvalOptions, judge_cache: dict[str, Any] | None = None,
                  check: Callable[[Strata], None] | None = None) -> JudgedSetup:
    """Check the options, pick the held-out prompts and the judge's training clips, load the run and fit the judge.

    Runs that share a codec and options (a learning curve's snapshots) can pass one `judge_cache` dict: the real clips
    and the fitted judge are then computed once and reused. `check` sees the loaded run before the judge is fitted
    (minutes), so a run that cannot serve the report is refused at once.
    """
    from data_prep.manifest import read_manifest
    from eval.judge import judge_labels

    opts.check()
    rows = read_manifest(opts.manifest)
    test = pick_prompts([r for r in rows if r.get("split") == opts.split and r.get("caption")], opts.prompts, opts.seed)
    train = [r for r in rows if r.get("split") == "train"][: opts.judge_clips]
    if len(test) < 4 or len(train) < 16:
        raise UserError(f"{opts.manifest} needs >= 4 captioned '{opts.split}' clips and >= 16 'train' clips for the eval "
                        f"(has {len(test)} and {len(train)}); synthesize more with `strata data synth`")
    strata = Strata.from_run(run)
    strata.set_generation_params(semantic_candidates=opts.semantic_candidates, temperature=opts.temperature)
    if check is not None:
        check(strata)
    sr, seconds = strata.sample_rate, opts.seconds
    if not judge_cache:
        real_train, real_test = fixed_length_clips(train, sr, seconds), fixed_length_clips(test, sr, seconds)
        fitted = _fit_judge(strata, real_train, judge_labels(train), real_test, judge_labels(test), source_groups(train))
        if judge_cache is not None:
            judge_cache.update(clips=(real_train, real_test), fitted=fitted)
    else:
        (real_train, real_test), fitted = judge_cache["clips"], judge_cache["fitted"]
    return JudgedSetup(strata, test, train, real_train, real_test, *fitted)


def pick_prompts(rows: list[dict], count: int, seed: int) -> list[dict]:
    """`count` clips taken in turn from each (drums, tempo) group in a seeded order, so the binary attributes are balanced
    where the split allows (a split cut by source piece is often mostly one tempo, and the permutation test needs both)."""
    from eval.judge import judge_labels

    gen = torch.Generator().manual_seed(seed)
    labels = judge_labels(rows)
    groups: dict[tuple[str, str], list[dict]] = {}
    for i in torch.randperm(len(rows), generator=gen).tolist():
        groups.setdefault((labels["drums"][i], labels["tempo"][i]), []).append(rows[i])
    queues = [groups[k] for k in sorted(groups)]
    picked: list[dict] = []
    while len(picked) < count and any(queues):
        for queue in queues:
            if queue and len(picked) < count:
                picked.append(queue.pop(0))
    return picked


def generator(strata: Strata, opts: EvalOptions) -> Callable[..., torch.Tensor]:
    """generate(captions, seeds=..., melody=...) -> audio rows prompt-major (prompt i's seeds together), one call per
    seed opts.seed, opts.seed + 1, ..., at the eval's length and guidance; melody is one [T] row per caption."""
    def generate(captions: list[str], seeds: int = 1, melody: torch.Tensor | None = None,
                 melody_scale: float | None = None) -> torch.Tensor:
        scale = opts.melody_scale if melody_scale is None else melody_scale
        runs = [strata.generate(captions, opts.seconds, seed=opts.seed + k, cfg_scale=opts.cfg_scale, melody=melody,
                                melody_scale=scale).audio
                for k in range(seeds)]
        rows = torch.stack([fit_length(r, int(round(opts.seconds * strata.sample_rate))) for r in runs], 1)
        return rows.reshape(-1, rows.shape[-1])
    return generate


def source_groups(records: list[dict]) -> list[str]:
    """Each clip's source piece (its id where the manifest names none): clips of one piece share a fold."""
    return [str((r.get("attributes") or {}).get("source_piece") or r.get("id")) for r in records]


def _fit_judge(strata: Strata, train: torch.Tensor, train_labels: dict, test: torch.Tensor, test_labels: dict,
               groups: list[str]):
    """The judge (clean + codec rows), its ceilings, a clean-only judge's accuracy on the held-out clips via the codec
    (how much timbre the codec keeps), and the held-out clips via the codec.

    Ceilings: its accuracy on the held-out clips clean and via the codec, and the cross-validated one over its own
    training pool via the codec at the held-out clips' label mix (eval/judge_ceiling.py)."""
    from eval.codec_timbre import codec_timbre
    from eval.judge import IndependentJudge, judge_round_trip_features
    from eval.judge_ceiling import cross_validated_recall, expected_accuracy
    from eval.judge_features import batch_features

    sr = strata.sample_rate
    clean = batch_features(train, sr)
    codec = judge_round_trip_features(train, sr, lambda wav: strata.codec.decode(strata.codec.encode(wav)))
    judge = IndependentJudge.fit(clean, train_labels, codec=codec)
    test_rt = round_trip(strata, test)
    test_rt_features, test_clean = batch_features(test_rt, sr), batch_features(test, sr)
    ceilings = {"clean": judge.accuracy(test_clean, test_labels), "codec": judge.accuracy(test_rt_features, test_labels)}
    if len(set(groups)) >= 2:  # one source piece leaves nothing to hold out: positions then use the prompt clips'
        ceilings["codec_cv"] = expected_accuracy(cross_validated_recall(clean, codec, train_labels, groups), test_labels)
    clean_on_codec = codec_timbre(clean, train_labels, test_clean, {"codec": test_rt_features}, test_labels)["codec"]
    return judge, ceilings, clean_on_codec, test_rt


def round_trip(strata: Strata, wav: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """Encode and decode through the run's codec (every level), in batches, trimmed to the input length."""
    parts = [strata.codec.decode(strata.codec.encode(wav[i:i + batch]))[:, : wav.shape[1]] for i in range(0, wav.shape[0], batch)]
    return fit_length(torch.cat(parts).float(), wav.shape[1])


def features(wav: torch.Tensor, sr: int):
    from eval.judge_features import batch_features

    return batch_features(wav, sr)
