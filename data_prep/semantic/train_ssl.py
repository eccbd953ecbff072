"""Pretrain a small fairseq2 wav2vec 2.0 model with its own contrastive + diversity objective; resumable.

State (model, optimizer, step, RNG) is checkpointed atomically under the state folder every `ckpt_every` steps and
when the time budget runs out; the current model plus normalisation statistics is then written as semantic.pt.
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from training.budget import Budget
from training.schedule import lr_factor, set_lr
from training.solver import Solver

from ..audio_io import load_audio, load_record_audio
from ..errors import DataError
from .config import SemanticConfig
from .features import FeatureExtractor
from .ssl import create_model, model_hop
from .tokenizer import SemanticTokenizer

log = logging.getLogger(__name__)
STATE_FILE = "state.pt"
MIN_SEGMENT_FRAMES = 20


def load_clips(sources: Sequence[str | os.PathLike | Mapping[str, Any]], sample_rate: int,
               on_error: Callable[[str, Exception], None] | None = None) -> list[torch.Tensor]:
    """Mono waveforms at `sample_rate` of file paths or manifest records (a record's `start`..`end` segment only);
    unreadable ones are reported through `on_error` (with the path, or the record's id) and skipped."""
    clips = []
    for source in sources:
        try:
            if isinstance(source, Mapping):
                clips.append(load_record_audio(source, sample_rate))
            else:
                clips.append(load_audio(source, sample_rate))
        except DataError as exc:
            if on_error is None:
                raise
            on_error(str(source.get("id", source.get("path"))) if isinstance(source, Mapping) else str(source), exc)
    return clips


def random_segments(clips: Sequence[torch.Tensor], n: int, length: int, gen: torch.Generator) -> torch.Tensor:
    """A batch [n, length] of random crops (clips shorter than `length` are zero-padded)."""
    out = torch.zeros(n, length)
    for i in range(n):
        clip = clips[int(torch.randint(len(clips), (1,), generator=gen))]
        if clip.shape[0] > length:
            start = int(torch.randint(clip.shape[0] - length + 1, (1,), generator=gen))
            out[i] = clip[start : start + length]
        else:
            out[i, : clip.shape[0]] = clip
    return out


def lr_at(step: int, cfg: SemanticConfig) -> float:
    """Linear warmup then cosine decay to 10% of the peak."""
    t = cfg.train
    return t.lr * lr_factor(step, t.steps, t.warmup_steps, floor=0.1)


class SSLSolver(Solver):
    """wav2vec 2.0 pretraining steps on random crops of `clips`; the skeleton resumes and checkpoints them."""

    name = "semantic-ssl"
    error = DataError

    def __init__(self, cfg: SemanticConfig, clips: Sequence[torch.Tensor], state_path: Path):
        t = cfg.train
        super().__init__(state_path, t.steps, t.ckpt_every)
        self.cfg, self.clips = cfg, clips
        self.model = create_model(cfg)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=t.lr, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01)
        self.gen = torch.Generator().manual_seed(t.seed)
        self.loss_ema = float("nan")
        self.length = int(t.segment_seconds * cfg.sample_rate)

    def train_step(self) -> dict[str, float]:
        """One contrastive + diversity step at the scheduled LR; returns its loss."""
        t = self.cfg.train
        set_lr(self.opt, lr_at(self.step, self.cfg))
        loss = _train_step(self.model, random_segments(self.clips, t.batch_size, self.length, self.gen), self.opt,
                           t.grad_clip)
        if math.isfinite(loss):
            self.loss_ema = loss if math.isnan(self.loss_ema) else 0.95 * self.loss_ema + 0.05 * loss
        return {"loss": loss}

    def after_step(self, terms: dict[str, float] | None) -> None:
        """Log the loss and its moving average every 10 steps (and after the first)."""
        if self.step % 10 == 0 or self.step == 1:
            log.info("semantic-ssl step %d/%d loss %.4f (ema %.4f)", self.step, self.total_steps,
                     (terms or {}).get("loss", float("nan")), self.loss_ema)

    def state(self) -> dict[str, Any]:
        """Model, optimizer, both RNGs and the loss average."""
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "generator": self.gen.get_state(),
                "torch_rng": torch.get_rng_state(), "loss": self.loss_ema}

    def load_state(self, state: dict[str, Any]) -> None:
        """Put back what `state` saved."""
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.loss_ema = float(state["loss"])


def train_ssl(
    cfg: SemanticConfig,
    clips: Sequence[torch.Tensor],
    state_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    max_minutes: float | None = None,
    restart: bool = False,
) -> dict[str, float]:
    """Train until cfg.train.steps (or the time budget), resuming from the state folder unless `restart`; export semantic.pt.

    semantic.pt is written whenever the call ends (all steps done or budget spent), so k-means can follow either way.
    Returns {"step", "loss", "finished"}: finished is 1.0 once all steps are done.
    """
    if cfg.family != "wav2vec2":
        raise DataError("strata train semantic-ssl trains semantic.family=wav2vec2; w2v-BERT is load-only (semantic.pretrained)")
    if not clips:
        raise DataError("no training audio for semantic-ssl: check the run's manifest (split=train)")
    t = cfg.train
    if t.segment_seconds * cfg.sample_rate / model_hop(cfg) < MIN_SEGMENT_FRAMES:
        raise DataError(f"semantic.train.segment_seconds={t.segment_seconds} is too short for masked prediction: use at least 1.0")
    state_path = Path(state_dir) / STATE_FILE
    torch.manual_seed(t.seed)
    solver = SSLSolver(cfg, clips, state_path)
    if restart and state_path.is_file():
        state_path.unlink()
    if solver.resume():
        log.info("resumed semantic-ssl at step %d", solver.step)
    solver.model.train()
    finished = solver.run(Budget(max_minutes))
    export_tokenizer(cfg, solver.model, clips, out_path)
    if not finished:
        log.info("semantic-ssl time budget reached at step %d/%d (model exported); re-run to continue", solver.step, t.steps)
    return {"step": float(solver.step), "loss": solver.loss_ema, "finished": 1.0 if finished else 0.0}


def _train_step(model: torch.nn.Module, batch: torch.Tensor, opt: torch.optim.Optimizer, grad_clip: float) -> float:
    from fairseq2.nn import BatchLayout

    with torch.compiler.set_stance("force_eager"):  # fairseq2's quantizer torch.compiles per shape: far slower on CPU
        loss, output = model(batch, BatchLayout.of(batch))
    value = loss.aggregate / max(1, output.num_targets)
    opt.zero_grad(set_to_none=True)
    if not torch.isfinite(value):
        return float("nan")
    value.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return float(value.detach())


def export_tokenizer(cfg: SemanticConfig, model: torch.nn.Module, clips: Sequence[torch.Tensor], out_path: str | os.PathLike) -> None:
    """Fit normalisation statistics on up to `stats_clips` clips and write semantic.pt."""
    extractor = FeatureExtractor(cfg, model.eval())
    frames = torch.cat([extractor.raw(c, cfg.sample_rate)[0] for c in clips[: max(1, cfg.train.stats_clips)]])
    extractor.fit_stats(frames)
    SemanticTokenizer(extractor).save(out_path)
