"""Memorization-audit report: report.json, report.md and PNG plots (matplotlib Agg) in one folder."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from training.files import atomic_path, atomic_write_text

from .memorization import AuditResult

PLOTS = ("match_rates.png", "cost_histogram.png", "closest_matches.png")
NEGATIVES_IN_JSON = 5000


def write_audit_report(result: AuditResult, out_dir: str | os.PathLike) -> list[Path]:
    """Write report.json, report.md and the three plots; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = result.to_dict()
    negatives = sorted(data.pop("negative_costs"))
    data["negative_cost_summary"] = _summary(negatives)
    step = max(1, len(negatives) // NEGATIVES_IN_JSON)
    data["negative_costs_sample"] = negatives[::step]
    atomic_write_text(out / "report.json", json.dumps(data, indent=2) + "\n")
    atomic_write_text(out / "report.md", render_markdown(result))
    _plot_match_rates(result, out / PLOTS[0])
    _plot_costs(result, out / PLOTS[1])
    _plot_closest(result, out / PLOTS[2])
    return [out / "report.json", out / "report.md"] + [out / p for p in PLOTS]


def render_markdown(result: AuditResult) -> str:
    """The human-readable report: settings, tau calibration, match rates, closest matches, novelty, notes."""
    cal, s = result.calibration, result.settings
    lines = [
        "# Memorization audit",
        "",
        f"Split `{s.get('split', '?')}`, {s.get('num_examples', '?')} examples, greedy continuation of "
        f"{s.get('continuation_seconds', '?')} s at {s.get('semantic_rate', '?')} Hz semantic tokens.",
        f"Approximate match: Sinkhorn cost between token histograms < tau; ground cost = {s['ground_cost']} "
        f"(unit {s['cost_unit']:.4g}); epsilon {s['sinkhorn_epsilon']}, up to {s['sinkhorn_iters']} iterations, "
        f"over-relaxation omega {s.get('sinkhorn_omega', 1.0)}"
        f"{', pairs cut short by the cap read out extrapolated' if s.get('sinkhorn_extrapolate') else ''}.",
        "",
        "## Threshold",
        "",
        f"- tau = **{cal.tau:.4f}**, calibrated on {cal.n_negatives} negative pairs (continuations scored against other "
        f"examples' targets) for a false-positive rate of at most {cal.max_fpr:g}.",
        f"- achieved FPR on the negatives: {cal.achieved_fpr:.3g} ({cal.false_positives} of {cal.n_negatives}).",
        f"- {cal.note}.",
        f"- {cal.trivial_negatives} further negatives were trivial (a target with at most "
        f"{s.get('trivial_max_distinct', 2)} distinct tokens or normalised token entropy below "
        f"{s.get('trivial_entropy', 0)}: silence, a held note) and are left out of the calibration.",
        "",
        "## Match rates by prompt length",
        "",
        "Trivial pairs (near-constant target) are counted apart: they never count as approximate matches, and the "
        "exact matches among them are shown in brackets. Near-constant continuations are counted in the last column.",
        "",
        "| prompt (s) | prompt tokens | examples | exact | exact rate | approximate | approximate rate | trivial (exact) "
        "| near-constant continuations |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result.per_prompt:
        lines.append(f"| {row['prompt_seconds']:g} | {row['prompt_tokens']} | {row['n']} | {row['exact_matches']} | "
                     f"{row['exact_rate']:.3f} | {row['approximate_matches']} | {row['approximate_rate']:.3f} | "
                     f"{row.get('trivial', 0)} ({row.get('trivial_exact', 0)}) | {row.get('trivial_generated', 0)} |")
    lines += ["", "## Closest matches", "",
              "Low token entropy means a near-constant sequence (e.g. silence): such matches are trivial, not memorized music.",
              "", "| example | prompt (s) | cost | exact | approximate | trivial | entropy gen (bits) | entropy target (bits) | distinct tokens |",
              "|---|---:|---:|:---:|:---:|:---:|---:|---:|---:|"]
    for c in result.closest:
        lines.append(f"| {c['example_id']} | {c['prompt_seconds']:g} | {c['cost']:.4f} | {'yes' if c['exact'] else ''} | "
                     f"{'yes' if c['approximate'] else ''} | {'yes' if c.get('trivial') else ''} | {c['generated_entropy_bits']:.2f} | {c['target_entropy_bits']:.2f} | "
                     f"{c['distinct_tokens']} |")
    lines += ["", "## Novelty (SIM_AA@95)", ""]
    lines.append(_novelty_text(result.novelty))
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in result.notes]
    lines += ["", "Plots: " + ", ".join(f"![{p}]({p})" for p in PLOTS), ""]
    return "\n".join(lines)


def _novelty_text(novelty: dict[str, Any] | None) -> str:
    if not novelty:
        return "Not run (use `--novelty-samples N` with a fully trained run)."
    if "skipped" in novelty:
        return f"Skipped: {novelty['skipped']}."
    return (f"{novelty['n_generated']} generated clips against {novelty['n_training']} training clips in CLAP audio space: "
            f"fraction with nearest-neighbour cosine > {novelty['threshold']} = **{novelty['fraction_above']:.3f}**; "
            f"mean nearest-neighbour cosine {novelty['mean_nn_cosine']:.3f}, max {novelty['max_nn_cosine']:.3f}.")


def _summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    n = len(values)
    return {"n": n, "min": values[0], "p01": values[int(0.01 * (n - 1))], "median": values[n // 2], "max": values[-1]}


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _figure().close(fig)


def _plot_match_rates(result: AuditResult, path: Path) -> None:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    xs = [r["prompt_seconds"] for r in result.per_prompt]
    ax.plot(xs, [r["exact_rate"] for r in result.per_prompt], "o-", label="exact")
    ax.plot(xs, [r["approximate_rate"] for r in result.per_prompt], "s--", label=f"approximate (cost < {result.calibration.tau:.3f})")
    ax.set_xlabel("prompt length (s)")
    ax.set_ylabel("match rate")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Memorization: match rate vs prompt length")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)


def _plot_costs(result: AuditResult, path: Path) -> None:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    cands = [c["cost"] for c in result.candidate_costs]
    negs = result.negative_costs
    values = cands + list(negs)
    if values:
        lo, hi = min(values), max(values)
        bins = [lo + (hi - lo) * i / 40 for i in range(41)] if hi > lo else 10
        if negs:
            ax.hist(negs, bins=bins, density=True, alpha=0.5, label=f"negatives (n={len(negs)})")
        if cands:
            ax.hist(cands, bins=bins, density=True, alpha=0.5, label=f"candidates (n={len(cands)})")
    ax.axvline(result.calibration.tau, color="k", linestyle=":", label=f"tau = {result.calibration.tau:.3f}")
    ax.set_xlabel("Sinkhorn cost")
    ax.set_ylabel("density")
    ax.set_title("Continuation vs target cost")
    ax.legend(loc="best", fontsize=8)
    _save(fig, path)


def _plot_closest(result: AuditResult, path: Path) -> None:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    closest = result.closest
    if closest:
        costs = [c["cost"] for c in closest]
        ent = [c["generated_entropy_bits"] for c in closest]
        colours = ["tab:red" if c["exact"] else "tab:orange" if c["approximate"] else "tab:blue" for c in closest]
        ax.scatter(costs, ent, c=colours)
        for c, x, y in zip(closest, costs, ent):
            ax.annotate(f"{c['example_id']}@{c['prompt_seconds']:g}s", (x, y), fontsize=6, alpha=0.8)
    ax.axvline(result.calibration.tau, color="k", linestyle=":")
    ax.set_xlabel("Sinkhorn cost (red: exact, orange: approximate)")
    ax.set_ylabel("token entropy of continuation (bits)")
    ax.set_title("Closest matches")
    _save(fig, path)
