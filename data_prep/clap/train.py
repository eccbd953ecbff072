"""Contrastive training of the small CLAP, then the RVQ fit on training-audio embeddings.

Resumable: log-mels are computed once into `work_dir/mels.pt`; model + optimiser + step + RNG states are
checkpointed atomically to `work_dir/state.pt` every `ckpt_every` steps and when the time budget ends.
"""
from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from training.budget import Budget
from training.files import atomic_torch_save, atomic_write_text
from training.schedule import lr_factor, set_lr
from training.solver import Solver

from ..audio_io import load_record_audio
from ..errors import DataError
from ..rvq import ResidualVQ, stats_dict
from .captions import augment_caption
from .config import ClapConfig, RVQConfig
from .tokenizer import KIND_SMALL, ConditionTokenizer

log = logging.getLogger("strata.clap")


@dataclass
class ClapTrainResult:
    """What a training call did (for logs and the model card)."""

    steps: int
    final_loss: float
    wall_seconds: float
    finished: bool
    train_clips: int


def compute_mels(tok: ConditionTokenizer, records: list[dict], cache: Path | None = None) -> list[torch.Tensor]:
    """Log-mel [n_mels, frames] (float16) per record, cached in `cache` so a resumed run skips it."""
    ids = [r["id"] for r in records]
    key = [tok.config.sample_rate, tok.config.n_mels, tok.config.mel_hop]
    if cache is not None and cache.is_file():
        blob = torch.load(cache, map_location="cpu", weights_only=True)
        if blob["ids"] == ids and blob.get("key") == key:
            return list(blob["mels"])
    frontend = tok.model.frontend
    mels = []
    with torch.no_grad():
        for rec in records:
            wav = load_record_audio(rec, tok.config.sample_rate, allow_silent=True)
            mels.append(frontend(wav[None])[0].half())
    if cache is not None:
        atomic_torch_save({"ids": ids, "key": key, "mels": mels}, cache)
    return mels


def _crop_batch(mels: list[torch.Tensor], idx: list[int], frames: int, gen: torch.Generator) -> torch.Tensor:
    out = []
    for i in idx:
        m = mels[i].float()
        if m.shape[-1] > frames:
            start = int(torch.randint(0, m.shape[-1] - frames + 1, (1,), generator=gen))
            m = m[:, start:start + frames]
        elif m.shape[-1] < frames:
            m = torch.nn.functional.pad(m, (0, frames - m.shape[-1]), value=math.log(1e-5))
        out.append(m + 0.5 * float(torch.randn(1, generator=gen)))
    return torch.stack(out)


class ClapSolver(Solver):
    """Contrastive steps of the small CLAP on precomputed log-mels: AdamW for the dense weights, SparseAdam for the
    token table, warmup then cosine LR to 5% of the peak; the skeleton resumes and checkpoints it.

    `text_only` freezes the audio tower (weights and normalisation statistics), so audio embeddings, the RVQ fitted
    on them and every audio token already cached stay valid while the text tower learns."""

    name = "CLAP"
    error = DataError

    def __init__(self, cfg: ClapConfig, model: torch.nn.Module, records: list[dict], mels: list[torch.Tensor],
                 work_dir: Path, text_only: bool = False):
        t = cfg.train
        super().__init__(work_dir / "state.pt", t.steps, t.ckpt_every)
        self.cfg, self.model, self.records, self.mels = cfg, model, records, mels
        self.text_only = text_only
        if text_only:
            model.audio.requires_grad_(False)
        sparse = [model.text.token_embedding.weight]
        self.dense = [p for p in model.parameters() if p is not sparse[0] and p.requires_grad]
        self.opt = torch.optim.AdamW([{"params": [p for p in self.dense if p.dim() >= 2], "weight_decay": t.weight_decay},
                                      {"params": [p for p in self.dense if p.dim() < 2], "weight_decay": 0.0}], lr=t.lr)
        self.opt_sparse = torch.optim.SparseAdam(sparse, lr=t.lr)
        self.losses: list[float] = []
        self.rng = random.Random(t.seed)
        self.gen = torch.Generator().manual_seed(t.seed)
        self.frames = max(8, int(t.crop_seconds * cfg.sample_rate / cfg.mel_hop))
        self.batch = min(t.batch_size, len(records))
        self.loop_start = time.monotonic()

    def train_step(self) -> None:
        """One contrastive step on a random batch of crops and augmented captions."""
        t = self.cfg.train
        idx = self.rng.sample(range(len(self.records)), self.batch)
        mel = _crop_batch(self.mels, idx, self.frames, self.gen)
        tokens = self.model.tokenize([augment_caption(self.records[i], self.rng, t.caption_keep_prob,
                                                      t.caption_free_prob) for i in idx])
        set_lr([self.opt, self.opt_sparse], t.lr * lr_factor(self.step, t.steps, t.warmup_steps, floor=0.05))
        self.model.train()
        if self.text_only:
            self.model.audio.eval()
        loss = self.model.contrastive_loss(mel, tokens)
        self.opt.zero_grad(set_to_none=True)
        self.opt_sparse.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.dense, 1.0)
        self.opt.step()
        self.opt_sparse.step()
        self.losses.append(float(loss.detach()))

    def after_step(self, terms: dict[str, float] | None) -> None:
        """Log the mean loss of the last 25 steps every 25 steps."""
        if self.step % 25 == 0:
            log.info("step %d/%d loss %.3f (%.2f s elapsed)", self.step, self.total_steps, sum(self.losses[-25:]) / 25,
                     time.monotonic() - self.loop_start)

    def state(self) -> dict:
        """Model, both optimizers, the loss history and both RNGs."""
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "optimizer_sparse": self.opt_sparse.state_dict(), "losses": self.losses,
                "py_rng": self.rng.getstate(), "torch_rng": self.gen.get_state()}

    def load_state(self, state: dict) -> None:
        """Put back what `state` saved."""
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.opt_sparse.load_state_dict(state["optimizer_sparse"])
        self.losses = list(state["losses"])
        self.rng.setstate(state["py_rng"])
        self.gen.set_state(state["torch_rng"])


def train_small_clap(cfg: ClapConfig, records: list[dict], work_dir: Path, out_path: Path,
                     max_minutes: float | None = None, resume: bool = True,
                     text_only_from: ConditionTokenizer | None = None) -> tuple[ConditionTokenizer, ClapTrainResult]:
    """Train the small CLAP contrastively on `records` (train split) and write `out_path` (clap.pt).

    `text_only_from` fine-tunes that trained CLAP's text tower against its frozen audio tower instead."""
    t = cfg.train
    if len(records) < 2:
        raise DataError(f"CLAP training needs at least 2 training clips, got {len(records)}")
    torch.manual_seed(t.seed)
    tok = text_only_from if text_only_from is not None else ConditionTokenizer.small(cfg)
    model = tok.model
    table = model.text.token_embedding.weight
    trained_rows = (table.detach().abs().sum(dim=1) != 0) if text_only_from is not None else None
    work_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, t.threads))
    # The budget covers the log-mel precompute too.
    budget = Budget(max_minutes if max_minutes is not None else t.max_minutes)
    mels = compute_mels(tok, records, work_dir / "mels.pt")
    log.info("log-mels ready for %d clips (%.1f s)", len(mels), budget.elapsed())
    solver = ClapSolver(cfg, model, records, mels, work_dir, text_only=text_only_from is not None)
    if resume and solver.resume():
        log.info("resumed CLAP training at step %d", solver.step)
    finished = solver.run(budget)
    if not finished:
        log.info("time budget reached at step %d", solver.step)
    model.eval()
    zero_unseen_tokens(model, solver.opt_sparse, keep=trained_rows)
    tok.save(out_path)
    losses = solver.losses
    result = ClapTrainResult(solver.step, sum(losses[-20:]) / max(1, len(losses[-20:])), budget.elapsed(), finished,
                             len(records))
    atomic_write_text(work_dir / "summary.json", json.dumps(asdict(result), indent=2) + "\n")
    return tok, result


def zero_unseen_tokens(model: torch.nn.Module, opt_sparse: torch.optim.Optimizer,
                       keep: torch.Tensor | None = None) -> int:
    """Zero the token rows training never updated (random init, meaningless), so clap.pt stores only seen tokens;
    rows marked in `keep` (trained before a fine-tune) stay."""
    weight = model.text.token_embedding.weight
    state = opt_sparse.state.get(weight)
    if not state or "exp_avg_sq" not in state:
        return 0
    unseen = state["exp_avg_sq"].abs().sum(dim=1) == 0
    if keep is not None:
        unseen &= ~keep
    with torch.no_grad():
        weight[unseen] = 0.0
    return int(unseen.sum())


def mel_embeddings(tok: ConditionTokenizer, mels: list[torch.Tensor], batch: int = 64) -> torch.Tensor:
    """Clip embeddings [N, D] from precomputed log-mels, with the tokenizer's window/hop averaging."""
    if tok.kind != KIND_SMALL:
        raise DataError("mel_embeddings applies to the small CLAP only")
    out = []
    with torch.no_grad():
        for m in mels:
            out.append(tok.embed_log_mel(m.float()[None]))
    return torch.cat(out) if out else torch.zeros(0, tok.config.embed_dim)


def crop_embeddings(tok: ConditionTokenizer, mels: list[torch.Tensor], crops: int, seed: int = 0,
                    batch: int = 128) -> torch.Tensor:
    """`crops` embeddings per clip of random crops (half a window to one window long, same length per round)."""
    if crops <= 0 or not mels:
        return torch.zeros(0, tok.config.embed_dim)
    gen = torch.Generator().manual_seed(seed)
    window = max(8, int(round(tok.config.window_seconds * tok.config.sample_rate / tok.config.mel_hop)))
    shortest = min(m.shape[-1] for m in mels)
    out = []
    with torch.no_grad():
        for _ in range(crops):
            length = int(torch.randint(max(8, window // 2), max(9, window + 1), (1,), generator=gen))
            length = min(length, shortest)
            pieces = []
            for m in mels:
                start = int(torch.randint(0, m.shape[-1] - length + 1, (1,), generator=gen))
                pieces.append(m[:, start:start + length].float())
            for i in range(0, len(pieces), batch):
                out.append(tok.model.embed_mel(torch.stack(pieces[i:i + batch])))
    return torch.cat(out)


def fit_rvq(embeddings: torch.Tensor, cfg: RVQConfig, out_path: Path) -> ResidualVQ:
    """Fit the conditioning RVQ on training-audio embeddings and save it atomically."""
    rvq = ResidualVQ.fit(embeddings, cfg.levels, cfg.bins, cfg.kmeans_iters, cfg.seed)
    rvq.save(out_path)
    log.info("RVQ %dx%d fitted on %d embeddings: %s", cfg.levels, cfg.bins, embeddings.shape[0],
             json.dumps({k: v for k, v in stats_dict(rvq.stats(embeddings)).items() if k != "codes_used"}))
    return rvq
