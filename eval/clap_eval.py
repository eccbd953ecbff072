"""Zero-shot evaluation of the CLAP conditioner, before and after RVQ quantization.

Attribute accuracy: each held-out clip's audio embedding is compared with the averaged text embeddings of
prompts for every value of an attribute (instrument family, drums yes/no, tempo word, mode); the nearest
wins. After quantization both sides go through the shared RVQ (tokens -> dequantized vectors), as at
inference. Text-audio agreement: paired caption/clip cosine and caption->clip retrieval R@1.

Text path: the text embedding of each clip's template caption, and of a paraphrase of it (eval/paraphrase.py),
classified by the nearest mean audio embedding of each class (instrument family, drums). It measures how much of a
caption's meaning survives the text tower before any stage runs, in the space the stages' audio tokens come from.
"""
from __future__ import annotations

from collections import Counter

import torch
import torch.nn.functional as F

from data_prep.clap.captions import zero_shot_prompts
from data_prep.errors import DataError

from .judge import judge_labels
from .paraphrase import paraphrase_set

ATTRIBUTES = ("family", "drums", "tempo_word", "mode")


def _aliases(records: list[dict], attribute: str) -> dict:
    """Other words the corpus uses for a value (e.g. family 'plucked' -> family_word 'plucked strings')."""
    out: dict = {}
    for r in records:
        attrs = r.get("attributes") or {}
        word = attrs.get(f"{attribute}_word")
        if word and attribute in attrs:
            out.setdefault(attrs[attribute], set()).add(str(word))
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _class_vectors(tok, values: list, attribute: str, quantized: bool, aliases: dict | None = None) -> torch.Tensor:
    vecs = []
    for value in values:
        emb = tok.embed_text(zero_shot_prompts(attribute, value, (aliases or {}).get(value, ())))
        if quantized:
            emb = tok.dequantize(tok.quantize(emb))
        vecs.append(F.normalize(emb.mean(dim=0), dim=-1))
    return torch.stack(vecs)


def attribute_accuracy(tok, records: list[dict], audio_emb: torch.Tensor, attribute: str, quantized: bool) -> dict:
    """Accuracy of nearest-prompt classification for one attribute, with chance and majority-class rates."""
    rows = [(i, r["attributes"][attribute]) for i, r in enumerate(records)
            if attribute in (r.get("attributes") or {}) and r["attributes"][attribute] is not None]
    if not rows:
        return {"n": 0}
    values = sorted({v for _, v in rows}, key=str)
    if len(values) < 2:
        return {"n": len(rows), "classes": [str(v) for v in values], "note": "one class only"}
    idx = torch.tensor([i for i, _ in rows])
    emb = audio_emb[idx]
    if quantized:
        emb = tok.dequantize(tok.quantize(emb))
    pred = (emb @ _class_vectors(tok, values, attribute, quantized, _aliases(records, attribute)).T).argmax(dim=1)
    truth = torch.tensor([values.index(v) for _, v in rows])
    counts = Counter(truth.tolist())
    per_class = {str(values[c]): round(float((pred[truth == c] == c).float().mean()), 4) for c in sorted(counts)}
    return {
        "n": len(rows), "classes": [str(v) for v in values], "accuracy": round(float((pred == truth).float().mean()), 4),
        "chance": round(1.0 / len(values), 4), "majority": round(max(counts.values()) / len(rows), 4),
        "per_class": per_class,
    }


def text_audio_agreement(tok, captions: list[str], audio_emb: torch.Tensor, quantized: bool) -> dict:
    """Mean paired cosine, mean unpaired cosine and caption->clip R@1 among the held-out clips."""
    text_emb = tok.embed_text(captions)
    if quantized:
        text_emb, audio_emb = tok.dequantize(tok.quantize(text_emb)), tok.dequantize(tok.quantize(audio_emb))
    sim = text_emb @ audio_emb.T
    n = sim.shape[0]
    paired = float(sim.diag().mean())
    unpaired = float((sim.sum() - sim.diag().sum()) / max(1, n * n - n))
    r1 = float((sim.argmax(dim=1) == torch.arange(n)).float().mean())
    return {"paired_cosine": round(paired, 4), "unpaired_cosine": round(unpaired, 4), "r_at_1": round(r1, 4),
            "r_at_1_chance": round(1.0 / n, 4)}


def prototype_accuracy(text_emb: torch.Tensor, labels: list[str], audio_emb: torch.Tensor) -> float:
    """Share of text embeddings lying nearest the mean audio embedding of their own label's clips."""
    values = sorted(set(labels))
    truth = torch.tensor([values.index(v) for v in labels])
    protos = torch.stack([F.normalize(audio_emb[truth == c].mean(dim=0), dim=-1) for c in range(len(values))])
    return round(float(((F.normalize(text_emb, dim=-1) @ protos.T).argmax(dim=1) == truth).float().mean()), 4)


def text_path(tok, records: list[dict], audio_emb: torch.Tensor, seed: int = 0) -> dict:
    """Family and drums read from template captions and from paraphrases by audio prototypes ({} without labels)."""
    try:
        labels = judge_labels(records)
    except DataError:
        return {}
    texts = {"template": [str(r["caption"]) for r in records],
             "paraphrase": [item["caption"] for item in paraphrase_set(records, seed)]}
    spaces = {"continuous": lambda x: x, "quantized": lambda x: tok.dequantize(tok.quantize(x))}
    audio = {q: to(audio_emb) for q, to in spaces.items()}
    embedded = {kind: tok.embed_text(t) for kind, t in texts.items()}
    text = {kind: {q: to(emb) for q, to in spaces.items()} for kind, emb in embedded.items()}
    return {name: {kind: {q: prototype_accuracy(text[kind][q], labels[name], audio[q]) for q in spaces}
                   for kind in texts}
            for name in ("family", "drums") if len(set(labels[name])) > 1}


def evaluate_clap(tok, records: list[dict], audio_emb: torch.Tensor) -> dict:
    """The full report: attribute accuracy and agreement before/after quantization, plus RVQ error."""
    from data_prep.rvq import stats_dict

    report: dict = {"clips": len(records), "attributes": {}, "agreement": {}}
    for attribute in ATTRIBUTES:
        report["attributes"][attribute] = {
            "continuous": attribute_accuracy(tok, records, audio_emb, attribute, quantized=False),
            "quantized": attribute_accuracy(tok, records, audio_emb, attribute, quantized=True),
        }
    captions = [str(r.get("caption") or "") for r in records]
    if all(captions):
        report["agreement"] = {q: text_audio_agreement(tok, captions, audio_emb, q == "quantized")
                               for q in ("continuous", "quantized")}
        text_stats = stats_dict(tok.rvq.stats(tok.embed_text(captions)))
        report["text_path"] = text_path(tok, records, audio_emb)
    else:
        text_stats = None
    report["rvq"] = {"levels": tok.levels, "bins": tok.bins, "audio": stats_dict(tok.rvq.stats(audio_emb)),
                     "text": text_stats}
    return report


def report_markdown(report: dict, run_name: str) -> str:
    """A short Markdown rendering of `evaluate_clap`'s report."""
    lines = [f"# CLAP zero-shot evaluation: run `{run_name}`", "",
             f"{report['clips']} held-out clips. Accuracy = nearest averaged prompt embedding; "
             "quantized = both sides through the shared RVQ.", "",
             "| attribute | classes | accuracy | quantized | chance | majority |", "|---|---|---|---|---|---|"]
    for name, entry in report["attributes"].items():
        c, q = entry["continuous"], entry["quantized"]
        if "accuracy" not in c:
            lines.append(f"| {name} | {len(c.get('classes', []))} | n/a | n/a | | |")
            continue
        lines.append(f"| {name} | {len(c['classes'])} | {c['accuracy']:.3f} | {q['accuracy']:.3f} | "
                     f"{c['chance']:.3f} | {c['majority']:.3f} |")
    if report.get("agreement"):
        lines += ["", "| text-audio agreement | paired cos | unpaired cos | caption->clip R@1 | chance |", "|---|---|---|---|---|"]
        for q, a in report["agreement"].items():
            lines.append(f"| {q} | {a['paired_cosine']:.3f} | {a['unpaired_cosine']:.3f} | {a['r_at_1']:.3f} | "
                         f"{a['r_at_1_chance']:.3f} |")
    if report.get("text_path"):
        lines += ["", "| text path: class of the nearest audio prototype | template captions | paraphrases |",
                  "|---|---|---|"]
        for name, kinds in report["text_path"].items():
            t, p = kinds["template"], kinds["paraphrase"]
            lines.append(f"| {name} (continuous / quantized) | {t['continuous']:.3f} / {t['quantized']:.3f} | "
                         f"{p['continuous']:.3f} / {p['quantized']:.3f} |")
    rvq = report["rvq"]
    text = (f"; caption text relative MSE {rvq['text']['relative_mse']:.4f} (cosine {rvq['text']['cosine']:.3f})"
            if rvq.get("text") else "")
    lines += ["", f"RVQ {rvq['levels']} x {rvq['bins']}: held-out audio relative MSE {rvq['audio']['relative_mse']:.4f} "
              f"(cosine {rvq['audio']['cosine']:.3f}){text}."]
    return "\n".join(lines) + "\n"
