"""`strata eval --run R`: does the system follow the text and the melody? Judged by models that Strata never trains on.

The judge (eval/judge.py) classifies instrument family, drums, tempo and mode from librosa features, fitted on real
training clips and on the same clips after the run's codec round trip. Generated clips for held-out captions (the
corpus's template captions and a paraphrase set worded unlike them, several draws per prompt) are scored against
a shuffled-prompt permutation baseline, untrained stages, and the judge's accuracy on real clips via the codec.
The ablation ladder, noise-likeness, out-of-corpus melodies and the self-judged CLAP figures complete the report.
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from .drivers.records import fixed_length_clips
from .errors import UserError
from .ladder import fit_length, ladder_audio
from .orchestrator import Strata
from .run_dir import STAGE_NAMES, RunDir

log = logging.getLogger(__name__)


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
        if not self.manifest.is_file():
            raise UserError(f"manifest not found: {self.manifest}")

    def quick(self) -> "EvalOptions":
        """A subset for a fast look (make demo): fewer prompts, clips and melodies, shorter clips; still 3 draws."""
        return replace(self, prompts=min(self.prompts, 8), seconds=min(self.seconds, 5.0),
                       judge_clips=min(self.judge_clips, 200), ladder_clips=min(self.ladder_clips, 4),
                       melodies=min(self.melodies, 3))


def evaluate_run(run: RunDir, opts: EvalOptions, judge_cache: dict[str, Any] | None = None) -> dict[str, Any]:
    """Generate, judge and write the report; returns the report dict (also in metrics.json).

    Runs that share a codec and options (a learning curve's snapshots) can pass one `judge_cache` dict: the real clips
    and the fitted judge are then computed once and reused.
    """
    from data_prep.manifest import read_manifest
    from eval.judge import judge_labels
    from eval.paraphrase import paraphrase_set, write_paraphrase_set

    opts.check()
    rows = read_manifest(opts.manifest)
    test = pick_prompts([r for r in rows if r.get("split") == opts.split and r.get("caption")], opts.prompts, opts.seed)
    train = [r for r in rows if r.get("split") == "train"][: opts.judge_clips]
    if len(test) < 4 or len(train) < 16:
        raise UserError(f"{opts.manifest} needs >= 4 captioned '{opts.split}' clips and >= 16 'train' clips for the eval "
                        f"(has {len(test)} and {len(train)}); synthesize more with `strata data synth`")
    timer = _Timer()
    strata = Strata.from_run(run)
    sr, seconds = strata.sample_rate, opts.seconds
    gen = _generator(strata, opts)

    with timer("judge"):
        if not judge_cache:
            real_train, real_test = fixed_length_clips(train, sr, seconds), fixed_length_clips(test, sr, seconds)
            fitted = _fit_judge(strata, real_train, judge_labels(train), real_test, judge_labels(test))
            if judge_cache is not None:
                judge_cache.update(clips=(real_train, real_test), fitted=fitted)
        else:
            (real_train, real_test), fitted = judge_cache["clips"], judge_cache["fitted"]
        judge, ceilings, clean_on_codec, test_rt = fitted
    labels = judge_labels(test)
    paraphrases = paraphrase_set(test, seed=opts.seed)
    write_paraphrase_set(paraphrases, opts.out / "paraphrase_prompts.jsonl")
    prompt_sets = {"template": [r["caption"] for r in test], "paraphrase": [p["caption"] for p in paraphrases]}
    audio: dict[str, torch.Tensor] = {}
    for name, captions in prompt_sets.items():
        with timer(f"generate {name}"):
            audio[name] = gen(captions, seeds=opts.draws)
    untrained_acc = None
    if opts.untrained:
        with timer("generate untrained"):
            audio["untrained"] = _generator(untrained_copy(strata), opts)(prompt_sets["template"], seeds=1)
            untrained_acc = judge.accuracy(_features(audio["untrained"], sr), labels)

    with timer("score"):
        report = _adherence_report(judge, audio, labels, paraphrases, ceilings, untrained_acc, opts, sr)
        report["sound"] = _sound_table(real_test, test_rt, audio, sr)
    with timer("ladder"):
        k = min(opts.ladder_clips, len(test))
        first_draws = audio["template"][:: opts.draws][:k]
        ladder = ladder_audio(strata, real_test[:k], prompt_sets["template"][:k], seconds, opts.seed, opts.cfg_scale,
                              generated=first_draws)
        report["ladder"] = _ladder_table(judge, ladder, {a: v[:k] for a, v in labels.items()}, test[:k], sr)
    if strata.stages["semantic"].layout.has_melody and opts.melodies:
        with timer("melody set"):
            report["melody_set"] = _melody_report(strata, gen, prompt_sets["template"], opts)
    with timer("self-judged"):
        report["self_judged"] = _self_judged(strata, train, real_train, real_test, audio, test, opts.draws)
    report["spectrograms"] = _spectrograms(real_test, test_rt, audio["template"][:: opts.draws], opts.out, sr)
    report["judge"] = {"ceilings": ceilings, "clean_trained_on_codec": clean_on_codec,
                       "description": f"Judge: scikit-learn classifiers on librosa spectral, cepstral, onset and tempo "
                                      f"features of {len(train)} real 'train' clips and the same clips after the codec round "
                                      f"trip; ceilings are its accuracy on the {len(test)} '{opts.split}' clips."}
    cfg_scale = strata.profile.generate.cfg_scale if opts.cfg_scale is None else opts.cfg_scale
    report["info"] = {"run": str(run.root), "prompts": f"{len(test)} captioned '{opts.split}' clips of {opts.manifest}",
                      "draws per prompt (seeds seed, seed+1, ...)": opts.draws, "clip seconds": seconds, "seed": opts.seed,
                      "guidance (cfg_scale)": cfg_scale, "judge clips": len(train),
                      "wall seconds per step": timer.seconds}
    report["notes"] = [
        "template: the corpus's own captions (the training caption templates); paraphrase: the same clips' attributes in "
        "other words (eval/paraphrase.py; stored in paraphrase_prompts.jsonl).",
        "shuffled prompts: the generated clips judged against other prompts' labels (mean over permutations).",
        "untrained stages: the same tokenizers with freshly initialised stages, one draw per template prompt.",
        "tempo: slow vs fast by the caption's BPM; mode: major vs minor.",
    ]
    from eval.judge_report import write_eval_report

    write_eval_report(report, opts.out)
    return report


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


def untrained_copy(strata: Strata) -> Strata:
    """The same tokenizers with freshly initialised stages of the same sizes: what training adds is the difference."""
    from stages.stage import Stage

    torch.manual_seed(0)
    stages = {name: Stage.build(strata.stages[name].model.cfg, strata.stages[name].layout) for name in STAGE_NAMES}
    for stage in stages.values():
        stage.model.eval()
    return Strata(strata.run, strata.profile, strata.condition, strata.codec, stages)


def _generator(strata: Strata, opts: EvalOptions) -> Callable[..., torch.Tensor]:
    """generate(captions, seeds=..., melody=...) -> audio rows prompt-major (prompt i's seeds together), one call per
    seed opts.seed, opts.seed + 1, ..., at the eval's length and guidance; melody is one [T] row per caption."""
    def generate(captions: list[str], seeds: int = 1, melody: torch.Tensor | None = None) -> torch.Tensor:
        runs = [strata.generate(captions, opts.seconds, seed=opts.seed + k, cfg_scale=opts.cfg_scale, melody=melody).audio
                for k in range(seeds)]
        rows = torch.stack([fit_length(r, int(round(opts.seconds * strata.sample_rate))) for r in runs], 1)
        return rows.reshape(-1, rows.shape[-1])
    return generate


def _fit_judge(strata: Strata, train: torch.Tensor, train_labels: dict, test: torch.Tensor, test_labels: dict):
    """The judge (clean + codec rows), its ceilings on held-out clips, a clean-only judge's accuracy on those clips
    via the codec (how much timbre the codec keeps), and the held-out clips via the codec."""
    from eval.codec_timbre import codec_timbre
    from eval.judge import IndependentJudge, judge_round_trip_features
    from eval.judge_features import batch_features

    sr = strata.sample_rate
    clean = batch_features(train, sr)
    codec = judge_round_trip_features(train, sr, lambda wav: strata.codec.decode(strata.codec.encode(wav)))
    judge = IndependentJudge.fit(clean, train_labels, codec=codec)
    test_rt = _round_trip(strata, test)
    test_rt_features, test_clean = batch_features(test_rt, sr), batch_features(test, sr)
    ceilings = {"clean": judge.accuracy(test_clean, test_labels), "codec": judge.accuracy(test_rt_features, test_labels)}
    clean_on_codec = codec_timbre(clean, train_labels, test_clean, {"codec": test_rt_features}, test_labels)["codec"]
    return judge, ceilings, clean_on_codec, test_rt


def _round_trip(strata: Strata, wav: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """Encode and decode through the run's codec (every level), in batches, trimmed to the input length."""
    parts = [strata.codec.decode(strata.codec.encode(wav[i:i + batch]))[:, : wav.shape[1]] for i in range(0, wav.shape[0], batch)]
    return fit_length(torch.cat(parts).float(), wav.shape[1])


def _adherence_report(judge, audio, labels, paraphrases, ceilings, untrained_acc, opts, sr) -> dict[str, Any]:
    from eval.judge_report import adherence_rows, judged_share

    rows, negation = [], []
    for name in ("template", "paraphrase"):
        pred = judge.predict(_features(audio[name], sr))
        rows += adherence_rows(name, pred, labels, opts.draws, ceilings, untrained_acc if name == "template" else None,
                               permutations=opts.permutations, seed=opts.seed)
        if name == "paraphrase":
            asked = [i for i, p in enumerate(paraphrases) if p["negated_drums"]]
        else:
            asked = [i for i, d in enumerate(labels["drums"]) if d == "no"]
        clips = [pred["drums"][i * opts.draws + d] for i in asked for d in range(opts.draws)]
        negation.append({"prompt_set": name, "prompts": len(asked), "clips": len(clips), "judged_drums": judged_share(clips, "yes")})
    return {"adherence": rows, "negation": negation}


def _sound_table(real: torch.Tensor, real_rt: torch.Tensor, audio: dict[str, torch.Tensor], sr: int) -> dict[str, dict]:
    from eval.judge_report import sound_stats

    table = {"real": sound_stats(real, sr), "real_codec": sound_stats(real_rt, sr)}
    table.update({f"generated_{name}" if name != "untrained" else "untrained_stages": sound_stats(wav, sr)
                  for name, wav in audio.items()})
    return table


def _ladder_table(judge, ladder: dict[str, torch.Tensor], labels: dict, records: list[dict], sr: int) -> dict[str, dict]:
    from eval.judge_report import sound_stats
    from eval.melody_set import pitch_class_accuracy

    table = {}
    for name, wav in ladder.items():
        melody = [pitch_class_accuracy(r["melody"], w, sr) for r, w in zip(records, wav) if r.get("melody")]
        melody = [m for m in melody if m == m]
        table[name] = {"accuracy": judge.accuracy(_features(wav, sr), labels),
                       "melody": sum(melody) / len(melody) if melody else None, "sound": sound_stats(wav, sr)}
    return table


def _melody_report(strata: Strata, gen, captions: list[str], opts: EvalOptions) -> dict[str, Any]:
    """Pitch-class accuracy of generations for melodies the corpus never had, with --melody and without."""
    from eval.melody_set import melody_set, pitch_class_accuracy

    sr = strata.sample_rate
    items = melody_set(sr, opts.seconds, seed=opts.seed, count=opts.melodies)
    prompts = [captions[i % len(captions)] for i in range(len(items))]
    melodies = fit_length(torch.stack([it.wav.float() for it in items]), int(round(opts.seconds * sr)))
    notes = [it.notes for it in items for _ in range(opts.draws)]
    sets = {"input melody": melodies, "input melody via codec": _round_trip(strata, melodies),
            "generated with --melody": gen(prompts, seeds=opts.draws, melody=melodies),
            "generated without": gen(prompts, seeds=opts.draws)}
    conditions = {}
    for name, wav in sets.items():
        rows_notes = [it.notes for it in items] if wav.shape[0] == len(items) else notes
        scores = [pitch_class_accuracy(n, w, sr) for n, w in zip(rows_notes, wav)]
        scores = [s for s in scores if s == s]
        conditions[name] = {"accuracy": sum(scores) / len(scores) if scores else None, "clips": len(scores)}
    return {"names": [it.name for it in items], "conditions": conditions}


def _self_judged(strata: Strata, train: list[dict], real_train: torch.Tensor, real_test: torch.Tensor, audio: dict,
                 test: list[dict], draws: int) -> dict[str, dict[str, float | None]]:
    """Figures in the run's own CLAP space (CLAP score, FAD, a classifier on CLAP embeddings, KL).

    The stages are conditioned on the same tower, so these flatter the model; they are kept for comparison only.
    """
    from eval.attributes import AttributeClassifier, attribute_labels
    from eval.fad import frechet_distance
    from eval.kl import paired_kl

    sr = strata.sample_rate
    text = strata.condition.embed_text([r["caption"] for r in test]).double()
    reference = strata.condition.embed_audio(real_train, sr).double()
    classifier = AttributeClassifier.fit(reference, attribute_labels(train, ("family",)))
    wanted = attribute_labels(test, ("family",))["family"]
    sets = {"generated": audio["template"][::draws], "real test audio": real_test}
    if "untrained" in audio:
        sets["untrained stages"] = audio["untrained"]
    emb = {name: strata.condition.embed_audio(wav, sr).double() for name, wav in sets.items()}
    real_probs = classifier.predict_proba(emb["real test audio"])["family"]
    table: dict[str, dict[str, float | None]] = {"CLAP score (higher)": {}, "FAD in CLAP space (lower)": {},
                                                 "family by a classifier on CLAP embeddings (higher)": {},
                                                 "KL to the real clip's family distribution (lower)": {}}
    for name, e in emb.items():
        table["CLAP score (higher)"][name] = float(torch.nn.functional.cosine_similarity(e, text, dim=1).mean())
        table["FAD in CLAP space (lower)"][name] = frechet_distance(reference, e)
        pred = classifier.predict(e)["family"]
        table["family by a classifier on CLAP embeddings (higher)"][name] = sum(p == w for p, w in zip(pred, wanted)) / len(wanted)
        table["KL to the real clip's family distribution (lower)"][name] = paired_kl(real_probs, classifier.predict_proba(e)["family"])
    table["CLAP score (higher)"]["generated vs other prompts"] = float(
        torch.nn.functional.cosine_similarity(emb["generated"], text.roll(1, 0), dim=1).mean())
    for metric in list(table)[1:]:
        table[metric]["generated vs other prompts"] = None
    return table


def _spectrograms(real: torch.Tensor, real_rt: torch.Tensor, generated: torch.Tensor, out: Path, sr: int, count: int = 2) -> list[str]:
    from eval.plots import save_spectrogram_row

    paths = []
    for i in range(min(count, real.shape[0])):
        rel = f"spectrograms/clip_{i}.png"
        save_spectrogram_row([real[i], real_rt[i], generated[i]], sr, out / rel,
                             ["real clip", "real clip via codec", "generated for its caption"])
        paths.append(rel)
    return paths


def _features(wav: torch.Tensor, sr: int):
    from eval.judge_features import batch_features

    return batch_features(wav, sr)


class _Timer:
    """Wall seconds per named step, logged as each finishes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 1)
        log.info("eval: %s done in %.1f s", name, self.seconds[name])
