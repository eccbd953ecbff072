"""`strata eval --run R --curve STAGE`: quality against training steps for one stage, judged independently.

Snapshots of a stage (`stages/<stage>/snapshots/step-<N>.pt`, model files saved along one training run) are each
swapped into a view of the run, and the view goes through the quick independent eval (pipeline/evaluate.py).
Every row holds the snapshot's loss on the run's validation clips, conditioned on their audio as in training and on
their captions as in generation (computed here: a budgeted stop saves the loss of the last scheduled validation, not
its own), and the judge's figures; the curve is written as JSON, Markdown and PNG.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from training.files import atomic_write_text, file_digest

from .errors import UserError
from .eval_setup import EvalOptions
from .evaluate import evaluate_run
from .run_dir import STAGE_NAMES, RunDir

SNAPSHOT = re.compile(r"^step-(\d+)\.pt$")
CURVE_FIGURES = ("family", "drums", "tempo")
JUDGED_COLUMNS = tuple(f"{s}_{a}" for a in CURVE_FIGURES for s in ("template", "paraphrase"))
# Written beside a snapshot's metrics.json once its eval is complete: a rerun of the curve reuses that report.
POINT_KEY = "curve-point.json"


def snapshots(run: RunDir, stage: str) -> list[tuple[int, Path]]:
    """(step, path) of the stage's snapshot files, by step; UserError when there are fewer than two."""
    folder = run.stage_dir(stage) / "snapshots"
    found = sorted((int(m.group(1)), p) for p in folder.glob("step-*.pt") if (m := SNAPSHOT.match(p.name)))
    if len(found) < 2:
        raise UserError(f"{folder} holds {len(found)} snapshot(s) (step-<N>.pt); a curve needs at least two: "
                        f"train with `strata train stage --stage {stage} --run {run.name} --snapshots N,N,...`")
    return found


def snapshot_view(run: RunDir, stage: str, model: Path, out: Path) -> RunDir:
    """A run directory at `out` that is `run` with the stage's model replaced by `model` (the rest linked)."""
    if out.exists():
        shutil.rmtree(out)
    (out / "stages").mkdir(parents=True)
    shutil.copy(run.config_path, out / "config.yaml")
    for name in ("tokenizers", "cache", "data"):
        if (run.root / name).exists():
            (out / name).symlink_to((run.root / name).resolve())
    for name in STAGE_NAMES:
        (out / "stages" / name).mkdir()
        source = model if name == stage else run.stage_model(name)
        (out / "stages" / name / "model.pt").symlink_to(Path(source).resolve())
    return RunDir.from_arg(str(out))


def learning_curve(run: RunDir, stage: str, opts: EvalOptions) -> list[dict[str, Any]]:
    """One row per snapshot: step, validation loss and the judge's figures on the quick eval."""
    if stage not in STAGE_NAMES:
        raise UserError(f"--curve takes a stage name ({', '.join(STAGE_NAMES)}), got '{stage}'")
    opts.check()
    rows: list[dict[str, Any]] = []
    judge_cache: dict[str, Any] = {}  # every snapshot shares the run's codec, so the judge is fitted once
    for step, path in snapshots(run, stage):
        point = replace(opts, out=opts.out / f"step-{step}", untrained=False)
        report = _finished_point(point, path)
        if report is None:
            view = snapshot_view(run, stage, path, opts.out / "views" / f"step-{step}")
            report = evaluate_run(view, point, judge_cache)
            atomic_write_text(point.out / POINT_KEY, json.dumps(_point_key(point, path)))
        rows.append(curve_row(step, valid_losses(run, path), report))
    write_curve(rows, stage, run.name, opts.out)
    return rows


def _point_key(opts: EvalOptions, model: Path) -> dict[str, Any]:
    """What a snapshot's report depends on: the model file's bytes and the eval options."""
    return {"model_sha256": file_digest(model),
            "options": {k: str(v) for k, v in sorted(vars(opts).items()) if k != "out"}}


def _finished_point(opts: EvalOptions, model: Path) -> dict[str, Any] | None:
    """The report an earlier, completed curve run wrote for this same snapshot and options, if any.

    The key file is written after metrics.json, so an eval cut short (even by kill -9) leaves no key and is redone.
    """
    key_path, report_path = opts.out / POINT_KEY, opts.out / "metrics.json"
    if not (key_path.is_file() and report_path.is_file()):
        return None
    try:
        if json.loads(key_path.read_text()) != json.loads(json.dumps(_point_key(opts, model))):
            return None
        return json.loads(report_path.read_text())
    except (OSError, ValueError):
        return None


def valid_losses(run: RunDir, model: Path, max_records: int = 64) -> dict[str, float | None]:
    """Mean target-token loss of a stage model file on the run's first 'valid' cache records, conditioned as in
    training validation on each clip's audio (val_loss) and on each of its captions (val_loss_text); None without."""
    from data_prep.cache import TokenCache
    from stages.batches import target_loss_sums, text_conditioned
    from stages.stage import Stage

    out: dict[str, float | None] = {"val_loss": None, "val_loss_text": None}
    if not (run.cache_dir / "meta.json").is_file():
        return out
    records = TokenCache(run.cache_dir).records("valid")[:max_records]
    stage = Stage.load(model)
    stage.model.eval()
    for key, rows in (("val_loss", records), ("val_loss_text", text_conditioned(records))):
        if rows:
            total, count = target_loss_sums(stage.model, stage.layout, rows, batch_size=8)
            out[key] = total / max(count, 1)
    return out


def curve_row(step: int, losses: dict[str, float | None], report: dict[str, Any]) -> dict[str, Any]:
    """The figures of one snapshot's eval report that the curve plots, beside its validation losses."""
    row: dict[str, Any] = {"step": step, **losses}
    for item in report["adherence"]:
        if item["attribute"] in CURVE_FIGURES:
            key = f"{item['prompt_set']}_{item['attribute']}"
            row[key] = item["generated"]
            row[f"{key}_position"] = item["position"]
            row[f"{key}_p"] = item["p_value"]
    sound = report["sound"]
    real = sound["real_codec"]["flatness"]
    row["flatness_ratio"] = sound["generated_template"]["flatness"] / real if real else None
    melody = (report.get("melody_set") or {}).get("conditions", {})
    row["melody_accuracy"] = melody.get("generated with --melody", {}).get("accuracy")
    return row


def write_curve(rows: list[dict[str, Any]], stage: str, run_name: str, out: Path) -> None:
    """curve.json, curve.md and curve.png under `out`."""
    atomic_write_text(out / "curve.json", json.dumps({"stage": stage, "run": run_name, "rows": rows}, indent=2))
    atomic_write_text(out / "curve.md", curve_table(rows, stage, run_name))
    _plot(rows, stage, out / "curve.png")


def curve_table(rows: list[dict[str, Any]], stage: str, run_name: str) -> str:
    """The curve as a Markdown table."""
    cols = ["step", "val_loss", "val_loss_text", *JUDGED_COLUMNS, "flatness_ratio", "melody_accuracy"]
    lines = [f"# Learning curve: {stage} stage of run `{run_name}`", "",
             "Judge accuracy of generations (3 draws per prompt); position in brackets, p-value of the permutation "
             "test after it. val_loss: conditioned on each clip's audio tokens (as in training validation); "
             "val_loss_text: on each of its captions' text tokens instead (as in generation). flatness_ratio: median "
             "spectral flatness over that of real clips via the codec.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        cells = []
        for col in cols:
            value = row.get(col)
            if value is None:
                cells.append("–")
            elif col == "step":
                cells.append(str(value))
            elif col in JUDGED_COLUMNS:
                pos = row.get(f"{col}_position")
                cells.append(f"{value:.3f} ({'–' if pos is None else f'{pos:.2f}'}, p {row[f'{col}_p']:.3f})")
            else:
                cells.append(f"{value:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _plot(rows: list[dict[str, Any]], stage: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    # A log axis spreads a cosine run's budgets evenly, but cannot show a warm start's step 0.
    scale = "log" if min(steps) > 0 else "linear"
    for key in JUDGED_COLUMNS:
        ax1.plot(steps, [r.get(key) for r in rows], marker="o", label=key.replace("_", " "))
    ax1.set_xscale(scale)
    ax1.set_xlabel(f"{stage} training steps")
    ax1.set_ylabel("judge accuracy of generations")
    ax1.legend(fontsize=7)
    ax2.plot(steps, [r.get("val_loss") for r in rows], marker="o", color="black", label="audio-conditioned")
    ax2.plot(steps, [r.get("val_loss_text") for r in rows], marker="^", color="grey", label="text-conditioned")
    ax2.legend(fontsize=7, loc="upper center")
    ax2.set_xscale(scale)
    ax2.set_xlabel(f"{stage} training steps")
    ax2.set_ylabel("validation loss (nats)")
    twin = ax2.twinx()
    twin.plot(steps, [r.get("flatness_ratio") for r in rows], marker="s", color="tab:red", label="flatness ratio")
    twin.set_ylabel("flatness / real via codec", color="tab:red")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)

