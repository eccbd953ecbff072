"""Cross-instrument melody retrieval: learned melody embedding vs chroma argmax (and raw chroma).

Each held-out same-melody group (clips rendering one melody window with different instruments) is cut into
non-overlapping windows. A query is one window of one clip; the candidates are every window of every other
held-out clip (the partner's other windows and other melodies included). R@1 = the top candidate is the
partner's window at the same offset. Chance is 1/N.
"""
from __future__ import annotations

from collections import defaultdict

import torch
import torch.nn.functional as F

from data_prep.melody.model import chroma_features
from data_prep.melody.tokenizer import MelodyTokenizer, window_frames


def _items(tok_cfg, wavs: list[torch.Tensor], sample_rate: int) -> list[tuple[int, int]]:
    """(clip index, window index) pairs covered by full windows of every clip."""
    items = []
    for c, wav in enumerate(wavs):
        n = int(wav.shape[-1] / sample_rate // tok_cfg.window_seconds)
        items += [(c, w) for w in range(max(1, n))]
    return items


def _r_at_1(sim: torch.Tensor, items: list[tuple[int, int]], clip_group: list[str]) -> tuple[float, float]:
    """R@1 and the mean candidate count, excluding the query's own clip from its candidates."""
    hits, counts = [], []
    for q, (qc, qw) in enumerate(items):
        if clip_group[qc].startswith("distractor-"):
            continue
        mask = torch.tensor([c != qc for c, _ in items])
        truth = [i for i, (c, w) in enumerate(items) if c != qc and clip_group[c] == clip_group[qc] and w == qw]
        if not truth:
            continue
        scores = sim[q].masked_fill(~mask, float("-inf"))
        hits.append(int(int(scores.argmax()) in truth))
        counts.append(int(mask.sum()))
    if not hits:
        return 0.0, 0.0
    return sum(hits) / len(hits), sum(counts) / len(counts)


def retrieval_report(learned: MelodyTokenizer | None, chroma: MelodyTokenizer, records: list[dict],
                     wavs: list[torch.Tensor], sample_rate: int, distractors: int = 0) -> dict:
    """R@1 among N for each representation on the held-out groups in `records` (parallel to `wavs`).

    Records without a `melody_group` (the last `distractors` of them) only add candidate windows.
    """
    groups = [str(r.get("melody_group") or f"distractor-{i}") for i, r in enumerate(records)]
    cfg = (learned or chroma).config
    items = _items(cfg, wavs, sample_rate)
    win_s = cfg.window_seconds
    reps: dict[str, torch.Tensor] = {}
    feats = [chroma_features(w, sample_rate, cfg)[0] for w in wavs]
    win_f = window_frames(cfg)
    raw = torch.stack([F.normalize(feats[c][:12, w * win_f:(w + 1) * win_f].flatten(), dim=0) for c, w in items])
    reps["chroma (continuous)"] = raw @ raw.T
    rate = chroma.rate
    toks = [chroma.chroma_tokens(w, sample_rate)[0] for w in wavs]
    per = int(round(win_s * rate))
    seqs = torch.stack([toks[c][w * per:(w + 1) * per] for c, w in items])
    reps["chroma argmax tokens"] = (seqs[:, None, :] == seqs[None, :, :]).float().mean(dim=-1)
    if learned is not None:
        emb = [learned.embed_features(f[None])[0] for f in feats]
        e = torch.stack([emb[c][w] for c, w in items])
        reps["learned (continuous)"] = e @ e.T
        if learned.rvq is not None:
            q = F.normalize(learned.rvq.decode(learned.rvq.encode(e)), dim=-1)
            reps[f"learned tokens (RVQ {learned.rvq.levels}x{learned.rvq.bins})"] = q @ q.T
    results = {}
    for name, sim in reps.items():
        r1, n = _r_at_1(sim, items, groups)
        results[name] = {"r_at_1": round(r1, 4), "candidates": round(n, 1), "chance": round(1 / n, 4) if n else 0.0}
    by_group = defaultdict(int)
    for g in groups:
        by_group[g] += 1
    return {"groups": len(by_group) - distractors, "clips": len(records) - distractors, "distractor_clips": distractors,
            "windows": len(items), "window_seconds": win_s, "chroma_rate": rate, "methods": results}


def report_markdown(report: dict, run_name: str) -> str:
    """Markdown table of `retrieval_report`."""
    lines = [f"# Melody retrieval: run `{run_name}`", "",
             f"{report['groups']} held-out same-melody groups, {report['clips']} clips, {report['windows']} windows of "
             f"{report['window_seconds']:g} s (plus {report.get('distractor_clips', 0)} held-out clips without a partner "
             "as distractors). Query = one window of a pair clip; correct = the other instrument's window at the same offset.",
             "", "| representation | R@1 | candidates N | chance 1/N |", "|---|---|---|---|"]
    for name, r in report["methods"].items():
        lines.append(f"| {name} | {r['r_at_1']:.3f} | {r['candidates']:g} | {r['chance']:.3f} |")
    return "\n".join(lines) + "\n"
