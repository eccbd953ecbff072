"""`strata eval --run R`: does the system follow text? Every metric with its baselines (eval/metrics_report.py).

Sets compared on the same held-out captions: real test audio (upper bound), generations, generations from shuffled
prompts (lower bound: right audio model, wrong text) and generations by untrained stages of the same size (what
training adds). Melody runs add generations conditioned on each real clip, scored against the no-melody generations.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from data_prep.audio_io import load_audio

from .errors import UserError
from .orchestrator import Strata
from .run_dir import STAGE_NAMES, RunDir


@dataclass
class EvalOptions:
    """What to evaluate on and where to write metrics.json / metrics.md."""

    manifest: Path
    out: Path
    split: str = "test"
    num_samples: int = 8
    seconds: float = 10.0
    seed: int = 0
    max_train_clips: int = 256
    cfg_scale: float | None = None  # None: the run's generate.cfg_scale


def evaluate_run(run: RunDir, opts: EvalOptions) -> dict[str, Any]:
    """Generate for held-out captions, score every set, write the report; returns {metric: {set: value}}."""
    from data_prep.manifest import read_manifest
    from eval.attributes import AttributeClassifier, attribute_labels
    from eval.chroma import chroma_cosine
    from eval.metrics_report import ADHERENCE_ATTRIBUTES, EvalSet, PromptSet, compute_metrics, write_metrics_report
    from eval.rhythm import beat_tracker_tempo_words

    rows = read_manifest(opts.manifest)
    test = [r for r in rows if r.get("split") == opts.split and r.get("caption")][: opts.num_samples]
    train = [r for r in rows if r.get("split") == "train"][: opts.max_train_clips]
    if len(test) < 2 or len(train) < 4:
        raise UserError(f"{opts.manifest} needs >= 2 captioned '{opts.split}' clips and >= 4 'train' clips for the eval "
                        f"(has {len(test)} and {len(train)}); synthesize more with `strata data synth`")
    strata = Strata.from_run(run)
    sr = strata.sample_rate
    captions = [r["caption"] for r in test]
    audio = {"real_test": _clips(test, sr, opts.seconds)}
    settings = {"seed": opts.seed, "cfg_scale": opts.cfg_scale}
    audio["generated"] = strata.generate(captions, opts.seconds, **settings).audio
    shuffled = [captions[(i + 1) % len(captions)] for i in range(len(captions))]
    audio["shuffled_prompts"] = strata.generate(shuffled, opts.seconds, **settings).audio
    audio["untrained_stages"] = untrained_copy(strata).generate(captions, opts.seconds, **settings).audio
    melody = strata.stages["semantic"].layout.has_melody
    if melody:
        audio["melody_conditioned"] = strata.generate(captions, opts.seconds, melody=audio["real_test"], **settings).audio

    def embed(wav: torch.Tensor) -> torch.Tensor:
        return strata.condition.embed_audio(wav, sr)

    train_emb = embed(_clips(train, sr, opts.seconds))
    classifier = AttributeClassifier.fit(train_emb, attribute_labels(train))
    real = embed(audio["real_test"])
    prompts = PromptSet(reference_fad=train_emb, text_embeddings=strata.condition.embed_text(captions),
                        labels={a: v for a, v in attribute_labels(test).items() if a in ADHERENCE_ATTRIBUTES},
                        reference_probs=classifier.predict_proba(real))
    sets = {}
    for name, wav in audio.items():
        emb = real if name == "real_test" else embed(wav)
        chroma = chroma_cosine(audio["real_test"], wav, sr) if melody and name in ("generated", "melody_conditioned") else None
        sets[name] = EvalSet(emb, emb, classifier.predict_proba(emb), classifier.predict(emb), chroma)
    metrics = compute_metrics(prompts, sets)
    wanted_tempo = prompts.labels.get("tempo_word", [])
    metrics["adherence_tempo_beat_tracker"] = {
        name: sum(a == b for a, b in zip(beat_tracker_tempo_words(wav, sr), wanted_tempo)) / max(1, len(wanted_tempo))
        for name, wav in audio.items()}
    cfg_scale = strata.profile.generate.cfg_scale if opts.cfg_scale is None else opts.cfg_scale
    info = {"run": str(run.root), "captions": f"{len(test)} from the {opts.split} split of {opts.manifest}",
            "clip seconds": opts.seconds, "seed": opts.seed, "guidance (cfg_scale)": cfg_scale, "embeddings": "the run's CLAP audio tower",
            "attribute classifier": f"logistic regression on {len(train)} real training clips"}
    notes = ["untrained_stages: the same tokenizers with freshly initialised stages (FAD baseline).",
             "adherence_tempo_beat_tracker: librosa's beat tracker's BPM mapped to the captions' tempo words.",
             "real_test FAD is against the training reference set: the floor a generator can reach here."]
    if melody:
        notes.append("melody_chroma: chroma cosine to the real clip; melody_conditioned used it as --melody, generated did not.")
    write_metrics_report(metrics, opts.out, info, notes)
    return metrics


def untrained_copy(strata: Strata) -> Strata:
    """The same tokenizers with freshly initialised stages of the same sizes: what training adds is the difference."""
    from stages.stage import Stage

    torch.manual_seed(0)
    stages = {name: Stage.build(strata.stages[name].model.cfg, strata.stages[name].layout) for name in STAGE_NAMES}
    for stage in stages.values():
        stage.model.eval()
    return Strata(strata.run, strata.profile, strata.condition, strata.codec, stages)


def _clips(rows: list[dict], sample_rate: int, seconds: float) -> torch.Tensor:
    n = int(seconds * sample_rate)
    out = torch.zeros(len(rows), n)
    for i, row in enumerate(rows):
        wav = load_audio(row["path"], sample_rate)[:n]
        out[i, : wav.shape[0]] = wav
    return out
