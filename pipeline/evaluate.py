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
from pathlib import Path
from typing import Any, Iterator

import torch

from .eval_setup import EvalOptions, features, generator, judged_setup
from .ladder import ladder_audio
from .orchestrator import Strata
from .run_dir import STAGE_NAMES, RunDir

log = logging.getLogger(__name__)


def evaluate_run(run: RunDir, opts: EvalOptions, judge_cache: dict[str, Any] | None = None) -> dict[str, Any]:
    """Generate, judge and write the report; returns the report dict (metrics.json, plus the per-prompt records).

    Runs that share a codec and options (a learning curve's snapshots) can pass one `judge_cache` dict (judged_setup).
    """
    from eval.judge import judge_labels
    from eval.paraphrase import paraphrase_set, write_paraphrase_set

    from .melody_eval import melody_report

    timer = _Timer()
    with timer("judge"):
        setup = judged_setup(run, opts, judge_cache)
    strata, test, judge = setup.strata, setup.test, setup.judge
    sr, seconds = strata.sample_rate, opts.seconds
    gen = generator(strata, opts)
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
            audio["untrained"] = generator(untrained_copy(strata), opts)(prompt_sets["template"], seeds=1)
            untrained_acc = judge.accuracy(features(audio["untrained"], sr), labels)

    with timer("score"):
        report = _adherence_report(judge, audio, test, labels, paraphrases, setup.ceilings, untrained_acc, opts, sr)
        report["sound"] = _sound_table(setup.real_test, setup.test_rt, audio, sr)
    with timer("ladder"):
        k = min(opts.ladder_clips, len(test))
        first_draws = audio["template"][:: opts.draws][:k]
        ladder = ladder_audio(strata, setup.real_test[:k], prompt_sets["template"][:k], seconds, opts.seed,
                              opts.cfg_scale, generated=first_draws, melody_scale=opts.melody_scale)
        report["ladder"] = _ladder_table(judge, ladder, {a: v[:k] for a, v in labels.items()}, test[:k], sr)
    if strata.stages["semantic"].layout.has_melody and opts.melodies:
        with timer("melody set"):
            report["melody_set"] = melody_report(strata, gen, judge, prompt_sets["template"], labels, opts)
    with timer("self-judged"):
        report["self_judged"] = _self_judged(strata, setup.train, setup.real_train, setup.real_test, audio, test,
                                             opts.draws)
    report["spectrograms"] = _spectrograms(setup.real_test, setup.test_rt, audio["template"][:: opts.draws], opts.out, sr)
    report["judge"] = {"ceilings": setup.ceilings, "clean_trained_on_codec": setup.clean_on_codec,
                       "description": f"Judge: scikit-learn classifiers on librosa spectral, cepstral, onset and tempo "
                                      f"features of {len(setup.train)} real 'train' clips and the same clips after the codec "
                                      f"round trip; ceilings are its accuracy on the {len(test)} '{opts.split}' clips "
                                      f"and, cross-validated by source piece, on its {len(setup.train)} training clips "
                                      f"via the codec at those clips' label mix."}
    cfg_scale, melody_scale = opts.guidance(strata.profile)
    report["info"] = {"run": str(run.root), "prompts": f"{len(test)} captioned '{opts.split}' clips of {opts.manifest}",
                      "draws per prompt (seeds seed, seed+1, ...)": opts.draws, "clip seconds": seconds, "seed": opts.seed,
                      "guidance (cfg_scale)": cfg_scale, "melody guidance (melody_scale)": melody_scale,
                      "semantic candidates per clip": strata.generation_params.semantic_candidates,
                      "temperature (semantic, coarse, fine)": strata.generation_params.temperatures(),
                      "judge clips": len(setup.train), "wall seconds per step": timer.seconds}
    report["notes"] = [
        "template: the corpus's own captions (the training caption templates); paraphrase: the same clips' attributes in "
        "other words (eval/paraphrase.py; stored in paraphrase_prompts.jsonl). judged_prompts.jsonl has each prompt's "
        "asked labels and the judge's label of each draw.",
        "shuffled prompts: the generated clips judged against other prompts' labels (mean over permutations).",
        "untrained stages: the same tokenizers with freshly initialised stages, one draw per template prompt.",
        "tempo: slow vs fast by the caption's BPM; mode: major vs minor.",
    ]
    from eval.judge_report import write_eval_report

    write_eval_report(report, opts.out)
    return report


def untrained_copy(strata: Strata) -> Strata:
    """The same tokenizers with freshly initialised stages of the same sizes: what training adds is the difference."""
    from stages.stage import Stage

    torch.manual_seed(0)
    stages = {name: Stage.build(strata.stages[name].model.cfg, strata.stages[name].layout) for name in STAGE_NAMES}
    for stage in stages.values():
        stage.model.eval()
    return Strata(strata.run, strata.profile, strata.condition, strata.codec, stages)


def _adherence_report(judge, audio, test, labels, paraphrases, ceilings, untrained_acc, opts, sr) -> dict[str, Any]:
    from eval.judge_report import adherence_rows, by_prompt, judged_prompts, judged_share
    from eval.stated import drums_by_word, stated_attributes

    rows, negation, per_prompt = [], [], []
    for name, prompts in (("template", test), ("paraphrase", paraphrases)):
        pred = judge.predict(features(audio[name], sr))
        rows += adherence_rows(name, pred, labels, opts.draws, ceilings, untrained_acc if name == "template" else None,
                               permutations=opts.permutations, seed=opts.seed,
                               stated=stated_attributes([p["caption"] for p in prompts]))
        per_prompt += judged_prompts(name, prompts, pred, labels, opts.draws)
        if name == "paraphrase":
            asked = [i for i, p in enumerate(paraphrases) if p["negated_drums"]]
        else:
            asked = [i for i, d in enumerate(labels["drums"]) if d == "no"]
        drums = by_prompt(pred["drums"], opts.draws)
        clips = [label for i in asked for label in drums[i]]
        negation.append({"prompt_set": name, "prompts": len(asked), "clips": len(clips), "judged_drums": judged_share(clips, "yes")})
    return {"adherence": rows, "negation": negation, "drums_by_word": drums_by_word(per_prompt),
            "judged_prompts": per_prompt}


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
        table[name] = {"accuracy": judge.accuracy(features(wav, sr), labels),
                       "melody": sum(melody) / len(melody) if melody else None, "sound": sound_stats(wav, sr)}
    return table


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
