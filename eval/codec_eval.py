"""Codec quality on held-out clips: SI-SDR, multi-scale mel distance, pitch agreement (full and coarse-only
decodes), codebook perplexity per level, and original-vs-reconstruction spectrogram PNGs."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from data_prep.codec import CodecTokenizer
from data_prep.codec.codebooks import usage_perplexity
from data_prep.codec.losses import MultiScaleMel, mel_distance
from training.files import atomic_write_text

EVAL_SPLITS = ("valid", "test")
MEL_SCALES = [256, 512, 1024, 2048]


@dataclass
class EvalClip:
    """One held-out clip: its id, mono audio at the codec's rate, and its instrument label."""

    id: str
    wav: torch.Tensor
    instrument: str = ""
    voices: int = 0


def select_clips(rows: list[dict], limit: int, solo_first: bool = True) -> list[dict]:
    """Held-out manifest rows (split valid/test), single-instrument non-drum clips first, in a stable order."""
    held = [r for r in rows if r.get("split") in EVAL_SPLITS]
    if not held:
        return []

    def is_solo(row: dict) -> bool:
        attrs = row.get("attributes") or {}
        instruments = attrs.get("instruments") or []
        return len(instruments) == 1 and not attrs.get("drums", False)

    solo = [r for r in held if is_solo(r)]
    other = [r for r in held if not is_solo(r)]
    if not solo_first:
        return held[:limit]
    picked = _spread_by_instrument(solo, limit)
    return picked + other[: max(0, limit - len(picked))]


def _spread_by_instrument(rows: list[dict], limit: int) -> list[dict]:
    """Round-robin over instruments so a small sample covers many of them."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        instruments = (row.get("attributes") or {}).get("instruments") or [""]
        groups.setdefault(str(instruments[0]), []).append(row)
    picked: list[dict] = []
    while len(picked) < limit and any(groups.values()):
        for key in list(groups):
            if groups[key] and len(picked) < limit:
                picked.append(groups[key].pop(0))
    return picked


def si_sdr(ref: torch.Tensor, est: torch.Tensor, eps: float = 1e-8) -> float:
    """Scale-invariant SDR in dB of est against ref (both [T])."""
    ref = ref - ref.mean()
    est = est - est.mean()
    scale = (est * ref).sum() / (ref.pow(2).sum() + eps)
    target = scale * ref
    noise = est - target
    return float(10 * torch.log10(target.pow(2).sum().clamp(min=eps) / noise.pow(2).sum().clamp(min=eps)))


def reconstruct(tokenizer: CodecTokenizer, wav: torch.Tensor) -> dict[str, torch.Tensor | torch.Tensor]:
    """Codes plus full and coarse-only reconstructions of one clip [T], trimmed to its length."""
    codes = tokenizer.encode(wav[None])
    full = tokenizer.decode(codes)[0, : wav.shape[-1]]
    coarse = tokenizer.decode(codes[:, : tokenizer.n_coarse])[0, : wav.shape[-1]]
    return {"codes": codes[0], "full": full, "coarse": coarse}


def _pitch_pair(ref_track: object, est: torch.Tensor, sample_rate: int) -> float:
    from eval.pitch import pitch_agreement, track_pitch

    return pitch_agreement(ref_track, track_pitch(est, sample_rate))


def evaluate(tokenizer: CodecTokenizer, clips: list[EvalClip], with_pitch: bool = True,
             ref_tracks: dict[str, object] | None = None) -> dict:
    """All metrics over `clips`; ref_tracks caches the originals' pitch tracks between calls (keyed by clip id)."""
    sr = tokenizer.sample_rate
    mels = MultiScaleMel(sr, MEL_SCALES)
    per_clip, all_codes = [], []
    for clip in clips:
        rec = reconstruct(tokenizer, clip.wav)
        all_codes.append(rec["codes"])
        row = {"id": clip.id, "instrument": clip.instrument, "voices": clip.voices}
        for kind in ("full", "coarse"):
            row[f"si_sdr_{kind}"] = si_sdr(clip.wav, rec[kind])
            row[f"mel_{kind}"] = mel_distance(mels, clip.wav[None], rec[kind][None])
        if with_pitch:
            from eval.pitch import track_pitch

            cache = ref_tracks if ref_tracks is not None else {}
            if clip.id not in cache:
                cache[clip.id] = track_pitch(clip.wav, sr)
            for kind in ("full", "coarse"):
                row[f"pitch_{kind}"] = _pitch_pair(cache[clip.id], rec[kind], sr)
        per_clip.append(row)
    codes = torch.cat(all_codes, dim=-1) if all_codes else torch.zeros(tokenizer.n_q, 0, dtype=torch.long)
    perplexity = [usage_perplexity(codes[level], tokenizer.bins) for level in range(codes.shape[0])]
    used = [int(torch.unique(codes[level]).numel()) for level in range(codes.shape[0])]
    summary = {key: _nanmean([r[key] for r in per_clip]) for key in per_clip[0] if key not in ("id", "instrument", "voices")} if per_clip else {}
    mono = [r for r in per_clip if r["voices"] == 1]
    if with_pitch and mono:
        summary.update(pitch_full_mono=_nanmean([r["pitch_full"] for r in mono]),
                       pitch_coarse_mono=_nanmean([r["pitch_coarse"] for r in mono]), mono_clips=float(len(mono)))
    by_instrument: dict[str, float] = {}
    if with_pitch:
        for name in sorted({r["instrument"] for r in per_clip}):
            by_instrument[name] = _nanmean([r["pitch_full"] for r in per_clip if r["instrument"] == name])
    return {
        "clips": len(clips), "n_q": tokenizer.n_q, "n_coarse": tokenizer.n_coarse, "summary": summary,
        "perplexity_per_level": perplexity, "codes_used_per_level": used, "dead_levels": sum(1 for u in used if u <= 1),
        "pitch_full_by_instrument": by_instrument, "per_clip": per_clip,
    }


def _nanmean(values: list[float]) -> float:
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def spectrogram_png(path: Path, sample_rate: int, panels: dict[str, torch.Tensor], title: str = "") -> None:
    """Stacked log-mel spectrograms (e.g. original / full / coarse) in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torchaudio.transforms as T

    mel = T.MelSpectrogram(sample_rate=sample_rate, n_fft=1024, hop_length=256, n_mels=80)
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.2 * len(panels)), squeeze=False)
    for ax, (name, wav) in zip(axes[:, 0], panels.items()):
        spec = 10 * torch.log10(mel(wav.float()).clamp(min=1e-8))
        ax.imshow(spec.numpy(), origin="lower", aspect="auto", vmin=float(spec.max()) - 80, vmax=float(spec.max()))
        ax.set_ylabel(name)
    if title:
        axes[0, 0].set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_report(out_dir: Path, metrics: dict, tokenizer: CodecTokenizer, clips: list[EvalClip], pngs: int = 3,
                 untrained: dict | None = None) -> None:
    """metrics.json, metrics.md and a few spectrogram PNGs under out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = dict(metrics)
    if untrained is not None:
        payload["untrained"] = {k: untrained[k] for k in ("summary", "perplexity_per_level", "codes_used_per_level")}
    atomic_write_text(out_dir / "metrics.json", json.dumps(payload, indent=2, default=_json_default) + "\n")
    atomic_write_text(out_dir / "metrics.md", markdown(payload))
    for clip in clips[:pngs]:
        rec = reconstruct(tokenizer, clip.wav)
        spectrogram_png(out_dir / f"spec_{_safe(clip.id)}.png", tokenizer.sample_rate,
                        {"original": clip.wav, "full": rec["full"], "coarse": rec["coarse"]}, title=f"{clip.id} {clip.instrument}")


def markdown(metrics: dict) -> str:
    """Human-readable summary table of a metrics dict."""
    s = metrics.get("summary", {})
    lines = ["# Codec evaluation", "", f"{metrics['clips']} held-out clips; n_q={metrics['n_q']}, coarse={metrics['n_coarse']}", "",
             "| metric | full | coarse-only |" + (" untrained full |" if "untrained" in metrics else ""),
             "|---|---|---|" + ("---|" if "untrained" in metrics else "")]
    for name in ("pitch", "pitch_mono", "mel", "si_sdr"):
        full, coarse = (f"pitch_{kind}_mono" if name == "pitch_mono" else f"{name}_{kind}" for kind in ("full", "coarse"))
        if full not in s:
            continue
        label = f"pitch (monophonic, {int(s['mono_clips'])} clips)" if name == "pitch_mono" else name
        row = f"| {label} | {s[full]:.3f} | {s[coarse]:.3f} |"
        if "untrained" in metrics:
            row += f" {metrics['untrained']['summary'].get(full, float('nan')):.3f} |"
        lines.append(row)
    lines += ["", "Codebook perplexity per level: " + ", ".join(f"{p:.0f}" for p in metrics["perplexity_per_level"]),
              "Codes used per level: " + ", ".join(map(str, metrics["codes_used_per_level"])),
              f"Dead levels: {metrics['dead_levels']}", ""]
    if metrics.get("pitch_full_by_instrument"):
        lines += ["| instrument | pitch (full) |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in metrics["pitch_full_by_instrument"].items()]
    return "\n".join(lines) + "\n"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60]


def _json_default(obj: object) -> object:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return str(obj)
