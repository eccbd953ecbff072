"""Scores and tables of the independent eval: attribute adherence with baselines and significance, noise-likeness,
the ablation ladder, melody following, and the self-judged CLAP figures, written as metrics.json + metrics.md.

Position = (generated - shuffled) / (ceiling - shuffled), with the ceiling measured on real clips after the codec
round trip (cross-validated over the judge's training pool, eval/judge_ceiling.py): 0 is the shuffled-prompt
baseline, 1 is as good as real audio through the same codec.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from training.files import atomic_write_text

from .judge_features import harmonic_ratio, loudness_db, spectral_flatness
from .significance import adherence_test, position, position_interval, share


def adherence_rows(prompt_set: str, pred: dict[str, list[str]], labels: dict[str, list[str]], draws: int,
                   ceilings: dict[str, dict[str, float]], untrained: dict[str, float] | None = None,
                   permutations: int = 2000, seed: int = 0,
                   stated: dict[str, Sequence[bool]] | None = None) -> list[dict[str, Any]]:
    """One row per attribute: judged agreement of the draws with their prompts against every baseline.

    position_interval is the 90% bootstrap interval of the position over prompts: how far another prompt draw may
    move it.

    Position uses the cross-validated ceiling via the codec (ceilings["codec_cv"]) where given, else the prompt clips'.

    pred[a] lists the judged labels prompt-major (prompt i's draws at i*draws .. i*draws+draws-1); labels[a] one per prompt.
    Each attribute in `stated` (one flag per prompt: does its wording state the attribute) gets a second row, named
    "<attribute>, stated", over only the prompts that state it (none when fewer than two do).
    """
    rows = []
    for attr, wanted in labels.items():
        grouped = by_prompt(pred[attr], draws)
        rows.append(_adherence_row(prompt_set, attr, grouped, wanted, ceilings, (untrained or {}).get(attr),
                                   permutations, seed))
        keep = [i for i, flag in enumerate((stated or {}).get(attr, ())) if flag]
        if len(keep) >= 2:
            rows.append(_adherence_row(prompt_set, f"{attr}, stated", [grouped[i] for i in keep],
                                       [wanted[i] for i in keep], ceilings, None, permutations, seed, ceiling_of=attr))
    return rows


def _adherence_row(prompt_set: str, attr: str, grouped: list[list[str]], wanted: Sequence[str],
                   ceilings: dict[str, dict[str, float]], untrained: float | None, permutations: int, seed: int,
                   ceiling_of: str | None = None) -> dict[str, Any]:
    of = ceiling_of or attr
    test = adherence_test(grouped, wanted, permutations=permutations, seed=seed)
    ceiling = ceilings.get("codec_cv", ceilings["codec"]).get(of)
    interval = position_interval(grouped, wanted, ceiling, seed=seed) if ceiling is not None else None
    return {"prompt_set": prompt_set, "attribute": attr, "generated": test.observed, "shuffled": test.shuffled,
            "p_value": test.p_value, "untrained": untrained,
            "ceiling_codec_cv": ceilings.get("codec_cv", {}).get(of),
            "ceiling_codec": ceilings["codec"].get(of), "ceiling_clean": ceilings["clean"].get(of),
            "position": position(test.observed, test.shuffled, ceiling) if ceiling is not None else None,
            "position_interval": list(interval) if interval else None,
            "prompts": test.prompts, "draws": test.seeds}


def judged_prompts(prompt_set: str, prompts: Sequence[dict], pred: dict[str, list[str]], labels: dict[str, list[str]],
                   draws: int) -> list[dict[str, Any]]:
    """One record per prompt: its id and caption, what it asked for, and the judge's label of each of its draws.

    `prompts` holds {"id", "caption"} per prompt; pred and labels are as in adherence_rows. It is the file to read
    when a row misses: which wordings lose an attribute.
    """
    grouped = {a: by_prompt(pred[a], draws) for a in labels}
    return [{"prompt_set": prompt_set, "id": p.get("id"), "caption": p["caption"],
             "asked": {a: labels[a][i] for a in labels}, "judged": {a: grouped[a][i] for a in labels}}
            for i, p in enumerate(prompts)]


def by_prompt(judged: Sequence[str], draws: int) -> list[list[str]]:
    """Prompt-major judged labels (prompt i's draws at i*draws .. i*draws+draws-1) as one list per prompt."""
    return [list(judged[i:i + draws]) for i in range(0, len(judged), draws)]


def judged_share(pred: Sequence[str], value: str) -> float:
    """Share of clips judged `value` (e.g. drums "yes" for prompts that ask for none)."""
    return share([list(pred)], value) if pred else float("nan")


def sound_stats(wavs: torch.Tensor, sample_rate: int) -> dict[str, float]:
    """Medians over clips of spectral flatness (noise-likeness), loudness (dBFS) and harmonic energy share."""
    flat = [spectral_flatness(w, sample_rate) for w in wavs]
    loud = [loudness_db(w, sample_rate) for w in wavs]
    harm = [harmonic_ratio(w, sample_rate) for w in wavs]
    return {"flatness": float(np.nanmedian(flat)), "loudness_db": float(np.nanmedian(loud)),
            "harmonic_share": float(np.nanmedian(harm)), "clips": int(wavs.shape[0])}


def write_eval_report(report: dict[str, Any], out_dir: str | os.PathLike) -> list[Path]:
    """metrics.json (everything but the per-prompt records), metrics.md (the tables) and, where the report has
    them, judged_prompts.jsonl (report["judged_prompts"], one line per prompt) in out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prompts = report.get("judged_prompts")
    summary = {k: v for k, v in report.items() if k != "judged_prompts"}
    atomic_write_text(out / "metrics.json", json.dumps(summary, indent=2, default=_json_default) + "\n")
    atomic_write_text(out / "metrics.md", render_markdown(summary))
    written = [out / "metrics.json", out / "metrics.md"]
    if prompts:
        atomic_write_text(out / "judged_prompts.jsonl",
                          "".join(json.dumps(p, ensure_ascii=False, default=_json_default) + "\n" for p in prompts))
        written.append(out / "judged_prompts.jsonl")
    return written


def render_markdown(report: dict[str, Any]) -> str:
    """The report's tables, headline (independent judge) first."""
    lines = ["# Evaluation", ""]
    lines += [f"- {k}: {v}" for k, v in report.get("info", {}).items()]
    lines += ["", "## Does the music follow the prompt? (independent judge)", "",
              "| prompts | attribute | generated | shuffled prompts | untrained stages | ceiling: real via codec, "
              "cross-validated | prompt clips via codec | prompt clips clean | position | 90% interval | p |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["adherence"]:
        lines.append(f"| {r['prompt_set']} | {r['attribute']} | {_f(r['generated'])} | {_f(r['shuffled'])} | "
                     f"{_f(r['untrained'])} | {_f(r.get('ceiling_codec_cv'))} | {_f(r['ceiling_codec'])} | "
                     f"{_f(r['ceiling_clean'])} | {_f(r['position'], 2)} | {_interval(r.get('position_interval'))} | "
                     f"{_p(r['p_value'])} |")
    lines += ["", "position = (generated − shuffled) / (ceiling − shuffled), with the cross-validated ceiling: the judge "
              "refitted without a fifth of its training pool's source pieces reads those clips after the codec round "
              "trip, at the prompts' label mix (the prompt clips alone are too few to fix a ceiling). 90% interval: "
              "bootstrap over prompts (all draws of a prompt together), the spread another prompt draw of the same "
              "size may give. p: permutation test over prompts (the prompt's labels are permuted across prompts, all "
              "draws of a prompt together).", ""]
    neg = report.get("negation", [])
    if neg:
        lines += ["### Prompts that ask for no drums", "", "| prompts | clips | judged with drums |", "|---|---:|---:|"]
        lines += [f"| {r['prompt_set']} | {r['clips']} | {_f(r['judged_drums'])} |" for r in neg]
        lines.append("")
    by_word = report.get("drums_by_word", [])
    if by_word:
        lines += ["### Prompts that ask for drums, by their first drum word", "",
                  "| prompts | drum word | prompts asking | clips | judged with drums |", "|---|---|---:|---:|---:|"]
        lines += [f"| {r['prompt_set']} | {r['drum_word'] or '(none: the caption is silent)'} | {r['prompts']} | "
                  f"{r['clips']} | {_f(r['judged_drums'])} |" for r in by_word]
        lines.append("")
    lines += ["## Noise-likeness and loudness", "",
              "| set | clips | median spectral flatness | × real via codec | loudness (dBFS) | harmonic share |",
              "|---|---:|---:|---:|---:|---:|"]
    ref = report["sound"].get("real_codec", {}).get("flatness")
    for name, s in report["sound"].items():
        ratio = s["flatness"] / ref if ref else None
        lines.append(f"| {name} | {s['clips']} | {_f(s['flatness'])} | {_f(ratio, 2)} | {_f(s['loudness_db'], 1)} | "
                     f"{_f(s['harmonic_share'])} |")
    ladder = report.get("ladder", {})
    if ladder:
        attrs = [a for a in next(iter(ladder.values()))["accuracy"]]
        lines += ["", "## Ablation ladder (same held-out clips; judged against each clip's own labels)", "",
                  "| row | " + " | ".join(attrs) + " | melody pitch-class | flatness | loudness (dBFS) |",
                  "|---|" + "---:|" * (len(attrs) + 3)]
        for name, row in ladder.items():
            cells = [_f(row["accuracy"][a]) for a in attrs]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {_f(row['melody'])} | {_f(row['sound']['flatness'])} | "
                         f"{_f(row['sound']['loudness_db'], 1)} |")
    melody = report.get("melody_set", {})
    if melody:
        lines += ["", "## Melodies from outside the corpus (pitch-class accuracy, octave errors allowed)", "",
                  "| condition | pitch-class accuracy | clips | caption's family judged | caption's drums judged | "
                  "median flatness |", "|---|---:|---:|---:|---:|---:|"]
        for name, m in melody["conditions"].items():
            text, sound = m.get("text", {}), m.get("sound", {})
            lines.append(f"| {name} | {_f(m['accuracy'])} | {m['clips']} | {_f(text.get('family'))} | "
                         f"{_f(text.get('drums'))} | {_f(sound.get('flatness'))} |")
        lines += ["", f"Melodies: {', '.join(melody['names'])}. Each is generated with a template caption of the eval; "
                  f"\"generated with --melody\" uses melody guidance (melody_scale) {_f(melody.get('melody_scale'), 1)}."]
    judge = report["judge"]
    lines += ["", "## The judge (held-out real clips)", "",
              "| attribute | clean | after codec round trip | clean-trained judge on codec round trip | "
              "cross-validated over the training pool, via codec |", "|---|---:|---:|---:|---:|"]
    for a in judge["ceilings"]["clean"]:
        lines.append(f"| {a} | {_f(judge['ceilings']['clean'][a])} | {_f(judge['ceilings']['codec'][a])} | "
                     f"{_f(judge['clean_trained_on_codec'].get(a))} | "
                     f"{_f(judge['ceilings'].get('codec_cv', {}).get(a))} |")
    lines += ["", judge["description"], ""]
    self_judged = report.get("self_judged", {})
    if self_judged:
        lines += ["## Self-judged (the run's own CLAP towers: the stages are conditioned on them, so these flatter the model)", "",
                  "| metric | " + " | ".join(next(iter(self_judged.values()))) + " |",
                  "|---|" + "---:|" * len(next(iter(self_judged.values())))]
        for metric, values in self_judged.items():
            lines.append(f"| {metric} | " + " | ".join(_f(v) for v in values.values()) + " |")
        lines.append("")
    plots = report.get("spectrograms", [])
    if plots:
        lines += ["## Spectrograms: real clip, its codec round trip, a generation for the same caption", ""]
        lines += [f"![spectrograms]({p})" for p in plots]
        lines.append("")
    notes = report.get("notes", [])
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines) + "\n"


def _f(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _interval(bounds: Sequence[float] | None) -> str:
    return f"{bounds[0]:.2f} to {bounds[1]:.2f}" if bounds else "n/a"


def _p(value: float) -> str:
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")
