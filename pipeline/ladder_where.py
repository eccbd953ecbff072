"""`strata eval --run R --ladder-where drums=yes`: the ablation ladder on the held-out clips whose label is one value,
a draw per seed, and the share of each row's clips the judge gives that value: the row where it falls is the
component that loses it. Each row's audio is also re-tokenized by the run's semantic tokenizer, and the share of its
frames in the clusters that mark the label (eval.token_share) says whether the row's semantic tokens still carry it."""
from __future__ import annotations

import json
from typing import Any

from training.files import atomic_write_text

from .errors import UserError
from .eval_setup import EvalOptions, features, judged_setup
from .ladder import ladder_audio
from .run_dir import RunDir


def parse_where(text: str) -> tuple[str, str]:
    """`drums=yes` as ("drums", "yes"); UserError unless the attribute is one the judge reads."""
    from eval.judge import JUDGE_ATTRIBUTES

    attribute, sep, value = text.partition("=")
    if not sep or attribute not in JUDGE_ATTRIBUTES or not value:
        raise UserError(f"--ladder-where takes ATTRIBUTE=VALUE with ATTRIBUTE one of {', '.join(JUDGE_ATTRIBUTES)} "
                        f"(e.g. drums=yes), got {text!r}")
    return attribute, value


def ladder_where(run: RunDir, opts: EvalOptions, attribute: str, value: str) -> dict[str, dict[str, Any]]:
    """{ladder row: {"share", "clips", "tokens"}} for the rows of opts.ladder_rows (None: all) over up to
    opts.ladder_clips picked prompts labelled attribute=value, each clip once per seed (opts.seed, +1, ...); "tokens"
    is the median share of the row's semantic frames in the label's clusters and the share of clips with none (None
    when the judge's clips lack either group). Also written to opts.out as ladder-where.json and ladder-where.md."""
    from eval.judge import judge_labels
    from eval.token_share import cluster_share, enriched_clusters, share_summary

    setup = judged_setup(run, opts)
    labels = judge_labels(setup.test)[attribute]
    picked = [i for i, v in enumerate(labels) if v == value][: opts.ladder_clips]
    if not picked:
        raise UserError(f"none of the {len(setup.test)} '{opts.split}' prompts is labelled {attribute}={value} "
                        f"(labels: {', '.join(sorted(set(labels)))})")
    sr, clips = setup.strata.sample_rate, setup.real_test[picked]
    captions = [setup.test[i]["caption"] for i in picked]
    semantic = setup.strata.semantic_tokenizer()
    positive = [v == value for v in judge_labels(setup.train)[attribute]]
    clusters = enriched_clusters(semantic.tokens(setup.real_train, sr).numpy(), positive, semantic.vocab_size)
    judged: dict[str, list[str]] = {}
    shares: dict[str, list[float]] = {}
    for k in range(opts.draws):
        rows = ladder_audio(setup.strata, clips, captions, opts.seconds, opts.seed + k, opts.cfg_scale,
                            melody_scale=opts.melody_scale, rows=opts.ladder_rows)
        for name, wav in rows.items():
            judged.setdefault(name, []).extend(setup.judge.predict(features(wav, sr))[attribute])
            shares.setdefault(name, []).extend(cluster_share(semantic.tokens(wav, sr).numpy(), clusters).tolist())
    table = {name: {"share": sum(v == value for v in got) / len(got), "clips": len(got),
                    "tokens": share_summary(shares[name]) if len(clusters) else None}
             for name, got in judged.items()}
    _write(table, attribute, value, len(picked), len(clusters), opts, setup.strata.generation_params.temperatures())
    return table


def _write(table: dict[str, dict[str, Any]], attribute: str, value: str, prompts: int, clusters: int,
           opts: EvalOptions, temperatures: list[float]) -> None:
    from eval.token_share import ENRICHMENT, NONE_BELOW

    opts.out.mkdir(parents=True, exist_ok=True)
    report = {"attribute": attribute, "value": value, "prompts": prompts, "draws": opts.draws, "seed": opts.seed,
              "seconds": opts.seconds, "temperature (semantic, coarse, fine)": temperatures,
              "label_clusters": clusters, "rows": table}
    atomic_write_text(opts.out / "ladder-where.json", json.dumps(report, indent=2) + "\n")
    lines = ["# Ablation ladder on one label", "",
             f"{prompts} '{opts.split}' clips labelled {attribute}={value} × seeds {opts.seed}–{opts.seed + opts.draws - 1}, "
             f"{opts.seconds:g} s, sampling temperatures {'/'.join(f'{v:g}' for v in temperatures)} "
             f"(semantic/coarse/fine); "
             f"share of each row's clips the independent judge labels {attribute}={value}.",
             f"Label clusters: the {clusters} semantic clusters ≥ {ENRICHMENT:g}× as frequent in the judge's training "
             f"clips labelled {attribute}={value} as in the others; each row's audio is re-tokenized and its frames in "
             f"them counted (median share per clip, and the clips with under {NONE_BELOW:.0%} of their frames in them).",
             "",
             f"| row | judged {attribute}={value} | clips | label clusters: median share | share of clips with none |",
             "|---|---:|---:|---:|---:|"]
    for name, row in table.items():
        tokens = row["tokens"]
        cells = f"{tokens['median']:.3f} | {tokens['none']:.3f}" if tokens else "n/a | n/a"
        lines.append(f"| {name} | {row['share']:.3f} | {row['clips']} | {cells} |")
    atomic_write_text(opts.out / "ladder-where.md", "\n".join(lines) + "\n")
