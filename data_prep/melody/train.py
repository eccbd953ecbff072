"""Semi-hard triplet training of the learned melody embedding, then its RVQ.

Positives are the same melody window in two renders: the two clips of a `melody_group` (same notes,
different instrument family) at the same offset, or, for clips without a partner, two timbre-augmented
views of one window (energy added at the 3rd/5th-harmonic pitch classes, noise, loudness change).
Negatives are the other melodies of the batch, among them the same clips shifted by >= 1 s (hard negatives
that force the embedding to follow the note order rather than the pitch-class set). Resumable: features are computed once (work_dir/features.pt),
state checkpointed atomically to work_dir/state.pt.
"""
from __future__ import annotations

import json
import logging
import random
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from training.budget import Budget
from training.files import atomic_torch_save, atomic_write_text
from training.schedule import lr_factor, set_lr
from training.solver import Solver

from ..audio_io import load_record_audio
from ..errors import DataError
from ..rvq import ResidualVQ
from .config import MelodyConfig
from .model import MelodyNet, chroma_features, semi_hard_triplet_loss
from .tokenizer import MelodyTokenizer, window_frames

log = logging.getLogger("strata.melody")


@dataclass
class MelodyTrainResult:
    """What a training call did (for logs and the model card)."""

    steps: int
    final_loss: float
    wall_seconds: float
    finished: bool
    groups: int
    singles: int


def compute_features(records: list[dict], cfg: MelodyConfig, cache: Path | None = None) -> list[torch.Tensor]:
    """Model input [13, F] per record, cached so a resumed run skips the audio."""
    ids = [r["id"] for r in records]
    if cache is not None and cache.is_file():
        blob = torch.load(cache, map_location="cpu", weights_only=True)
        if blob["ids"] == ids:
            return list(blob["features"])
    feats = [chroma_features(load_record_audio(r, cfg.sample_rate, allow_silent=True), cfg.sample_rate, cfg)[0]
             for r in records]
    if cache is not None:
        atomic_torch_save({"ids": ids, "features": feats}, cache)
    return feats


def melody_groups(records: list[dict]) -> tuple[list[list[int]], list[int]]:
    """(index lists of same-melody groups with >= 2 clips, indices of the remaining clips)."""
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        if r.get("melody_group"):
            by_group[str(r["melody_group"])].append(i)
    groups = [v for _, v in sorted(by_group.items()) if len(v) >= 2]
    grouped = {i for g in groups for i in g}
    return groups, [i for i in range(len(records)) if i not in grouped]


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Timbre-like change of a [13, F] window: harmonic leakage to +7/+4 semitones, noise, loudness shift."""
    chroma, loud = x[:12], x[12:]
    a, b, noise, gain = torch.rand(4, generator=gen).tolist()
    mixed = chroma + 0.6 * a * chroma.roll(7, dims=0) + 0.4 * b * chroma.roll(4, dims=0)
    mixed = mixed + 0.05 * noise * torch.rand(chroma.shape, generator=gen) * (loud > 0)
    mixed = mixed / (mixed.sum(dim=0, keepdim=True) + 1e-8) * (loud > 0)
    loud = ((loud + 0.3 * (gain - 0.5)) * (loud > 0)).clamp(0, 1)
    return torch.cat([mixed, loud], dim=0)


def _window(x: torch.Tensor, start: int, win: int) -> torch.Tensor:
    piece = x[:, start:start + win]
    return torch.nn.functional.pad(piece, (0, win - piece.shape[-1]))


def sample_batch(feats: list[torch.Tensor], groups: list[list[int]], singles: list[int], cfg: MelodyConfig,
                 rng: random.Random, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs [2P, 13, win], labels [2P]) for P melodies, two views each."""
    t = cfg.train
    win = window_frames(cfg)
    xs, labels = [], []
    label = 0
    shift = max(1, int(round(cfg.feature_rate)))
    while label < t.batch_melodies:
        use_self = not groups or (singles and rng.random() < t.self_pair_share)
        members = [rng.choice(singles)] * 2 if use_self else rng.sample(rng.choice(groups), 2)
        frames = min(feats[m].shape[-1] for m in members)
        starts = [rng.randint(0, max(0, frames - win))]
        if frames - win >= 2 * shift and label + 1 < t.batch_melodies and rng.random() < t.shifted_share:
            offsets = [o for o in range(0, frames - win + 1) if abs(o - starts[0]) >= shift]
            starts.append(rng.choice(offsets))
        for start in starts:
            for m in members:
                jitter = min(max(0, start + rng.randint(-1, 1)), max(0, feats[m].shape[-1] - win))
                xs.append(augment(_window(feats[m], jitter, win), gen))
                labels.append(label)
            label += 1
    return torch.stack(xs), torch.tensor(labels)


def sliding_embeddings(tok: MelodyTokenizer, feats: list[torch.Tensor], hop_seconds: float = 1.0) -> torch.Tensor:
    """Window embeddings at a `hop_seconds` hop over every clip (more, overlapping windows for the RVQ fit)."""
    win = window_frames(tok.config)
    hop = max(1, int(round(hop_seconds * tok.config.feature_rate)))
    windows = [_window(f, s, win) for f in feats for s in range(0, max(1, f.shape[-1] - win + 1), hop)]
    out = []
    with torch.no_grad():
        for i in range(0, len(windows), 256):
            out.append(tok.net(torch.stack(windows[i:i + 256])))
    return torch.cat(out)


def fit_melody_rvq(tok: MelodyTokenizer, feats: list[torch.Tensor]) -> torch.Tensor:
    """Fit the tokenizer's RVQ on tokenizer windows plus 1 s-hop sliding windows; returns the fitting set."""
    cfg = tok.config
    emb = torch.cat([torch.cat([tok.embed_features(f[None])[0] for f in feats]), sliding_embeddings(tok, feats)])
    tok.rvq = ResidualVQ.fit(emb, cfg.rvq_levels, cfg.rvq_bins, iters=20, seed=cfg.train.seed)
    return emb


class MelodySolver(Solver):
    """Semi-hard triplet steps of the melody embedding with a 50-step linear warmup to a constant LR; the skeleton
    resumes and checkpoints it."""

    name = "melody"
    error = DataError
    warmup_steps = 50

    def __init__(self, cfg: MelodyConfig, feats: list[torch.Tensor], groups: list[list[int]], singles: list[int],
                 work_dir: Path):
        t = cfg.train
        super().__init__(work_dir / "state.pt", t.steps, t.ckpt_every)
        self.cfg, self.feats, self.groups, self.singles = cfg, feats, groups, singles
        self.net = MelodyNet(cfg.width, cfg.embed_dim)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=t.lr, weight_decay=0.01)
        self.losses: list[float] = []
        self.rng, self.gen = random.Random(t.seed), torch.Generator().manual_seed(t.seed)
        self.loop_start = time.monotonic()

    def train_step(self) -> None:
        """One triplet step on a fresh batch of paired windows."""
        t = self.cfg.train
        x, labels = sample_batch(self.feats, self.groups, self.singles, self.cfg, self.rng, self.gen)
        set_lr(self.opt, t.lr * lr_factor(self.step, t.steps, self.warmup_steps, floor=1.0))
        loss = semi_hard_triplet_loss(self.net(x), labels, t.margin)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.losses.append(float(loss.detach()))

    def after_step(self, terms: dict[str, float] | None) -> None:
        """Log the mean loss of the last 50 steps every 50 steps."""
        if self.step % 50 == 0:
            log.info("step %d/%d triplet loss %.4f (%.0f s)", self.step, self.total_steps, sum(self.losses[-50:]) / 50,
                     time.monotonic() - self.loop_start)

    def state(self) -> dict:
        """Model, optimizer, the loss history and both RNGs."""
        return {"model": self.net.state_dict(), "optimizer": self.opt.state_dict(), "losses": self.losses,
                "py_rng": self.rng.getstate(), "torch_rng": self.gen.get_state()}

    def load_state(self, state: dict) -> None:
        """Put back what `state` saved."""
        self.net.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.losses = list(state["losses"])
        self.rng.setstate(state["py_rng"])
        self.gen.set_state(state["torch_rng"])


def train_melody(cfg: MelodyConfig, records: list[dict], work_dir: Path, out_path: Path,
                 max_minutes: float | None = None, resume: bool = True) -> tuple[MelodyTokenizer, MelodyTrainResult]:
    """Train the embedding on train-split `records`, fit its RVQ on train windows, and write melody.pt."""
    t = cfg.train
    if len(records) < 2:
        raise DataError(f"melody training needs at least 2 training clips, got {len(records)}")
    torch.manual_seed(t.seed)
    work_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, t.threads))
    # The budget covers the feature precompute too.
    budget = Budget(max_minutes if max_minutes is not None else t.max_minutes)
    feats = compute_features(records, cfg, work_dir / "features.pt")
    groups, singles = melody_groups(records)
    log.info("melody features for %d clips (%d same-melody groups), %.1f s", len(feats), len(groups), budget.elapsed())
    solver = MelodySolver(cfg, feats, groups, singles, work_dir)
    if resume and solver.resume():
        log.info("resumed melody training at step %d", solver.step)
    solver.net.train()
    finished = solver.run(budget)
    net = solver.net
    net.eval()
    tok = MelodyTokenizer.learned(cfg, net)
    train_emb = fit_melody_rvq(tok, feats)
    tok.save(out_path)
    tail = solver.losses[-20:]
    result = MelodyTrainResult(solver.step, sum(tail) / max(1, len(tail)), budget.elapsed(), finished,
                               len(groups), len(singles))
    summary = {**asdict(result), "rvq": {"levels": tok.rvq.levels, "bins": tok.rvq.bins,
                                         "train_relative_mse": tok.rvq.stats(train_emb).relative_mse}}
    atomic_write_text(work_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return tok, result
