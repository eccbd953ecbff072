"""Re-score a written eval report from its judged prompts, without generating again.

The judge's label of every draw is in judged_prompts.jsonl and the ceilings in metrics.json, so adherence rows added
to the scoring later (the stated-drums rows, the drums-by-word table) can be computed for reports written before.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .judge_report import adherence_rows, write_eval_report
from .stated import drums_by_word, stated_attributes


def rescore_report(folder: Path, out: Path) -> dict[str, Any]:
    """The report in `folder` with its adherence rows and drums-by-word table recomputed; written to `out` (its
    spectrogram links kept where the figures are in `out`)."""
    metrics = json.loads((folder / "metrics.json").read_text())
    judged = [json.loads(line) for line in (folder / "judged_prompts.jsonl").read_text().splitlines() if line.strip()]
    draws, seed = metrics["info"]["draws per prompt (seeds seed, seed+1, ...)"], metrics["info"]["seed"]
    untrained = {r["attribute"]: r["untrained"] for r in metrics["adherence"] if r["prompt_set"] == "template"}
    rows = []
    for name in dict.fromkeys(r["prompt_set"] for r in judged):
        records = [r for r in judged if r["prompt_set"] == name]
        labels = {a: [r["asked"][a] for r in records] for a in records[0]["asked"]}
        pred = {a: [label for r in records for label in r["judged"][a]] for a in labels}
        rows += adherence_rows(name, pred, labels, draws, metrics["judge"]["ceilings"],
                               untrained if name == "template" else None, seed=seed,
                               stated=stated_attributes([r["caption"] for r in records]))
    figures = [path for path in metrics.get("spectrograms", []) if (out / path).is_file()]  # only those beside out
    report = dict(metrics, adherence=rows, drums_by_word=drums_by_word(judged), spectrograms=figures,
                  judged_prompts=judged)
    write_eval_report(report, out)
    return report
