"""Training loop of the small codec: EnCodec losses, quantizer dropout, and the three training fixes of this package's README; resumable."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch

from training.budget import Budget
from training.files import atomic_write_text
from training.schedule import decay_factor, set_lr
from training.solver import Solver

from ..errors import DataError
from .adversarial import build_discriminator, discriminator_loss, generator_losses
from .codebooks import ResidualCapture, codebooks, kmeans_init_, replace_dead_codes_
from .config import CodecConfig
from .losses import MultiScaleMel, MultiScaleSTFT, log_stft_loss, mel_losses
from .model import SMALL
from .tokenizer import CodecTokenizer, config_from_dict

log = logging.getLogger("strata.codec")
STATE_NAME = "state.pt"
SNAPSHOT_DIR = "snapshots"


class ClipSampler:
    """Random fixed-length crops from in-memory clips, driven by its own seeded generator (saved on checkpoint)."""

    def __init__(self, clips: list[torch.Tensor], length: int, seed: int):
        if not clips:
            raise DataError("no training audio for the codec: the run's manifest has no split=='train' clips")
        self.clips = clips
        self.length = length
        self.generator = torch.Generator().manual_seed(seed)

    def batch(self, size: int) -> torch.Tensor:
        """[size, length] float32 crops (short clips are zero-padded)."""
        out = torch.zeros(size, self.length)
        picks = torch.randint(0, len(self.clips), (size,), generator=self.generator).tolist()
        for row, index in enumerate(picks):
            clip = self.clips[index]
            span = clip.shape[-1] - self.length
            start = int(torch.randint(0, span + 1, (1,), generator=self.generator)) if span > 0 else 0
            piece = clip[start:start + self.length].float()
            out[row, :piece.shape[-1]] = piece
        return out

    def choice(self, options: list[float]) -> float:
        """One of `options`, drawn from the sampler's generator."""
        return options[int(torch.randint(0, len(options), (1,), generator=self.generator))]


class CodecTrainer(Solver):
    """Trains a small CodecTokenizer on clips; checkpoints {model, optimizer, step, RNG} atomically to `work_dir`."""

    name = "codec"
    error = DataError

    def __init__(self, cfg: CodecConfig, clips: list[torch.Tensor], work_dir: str | Path,
                 on_log: Callable[[dict], None] | None = None):
        if cfg.pretrained is not None:
            raise DataError("codec.pretrained is set: a pretrained codec needs no training (set codec.pretrained=null to train)")
        super().__init__(Path(work_dir) / STATE_NAME, cfg.train.steps, cfg.train.ckpt_every)
        self.cfg = cfg
        self.tcfg = cfg.train
        self.work_dir = Path(work_dir)
        torch.manual_seed(self.tcfg.seed)
        self.tokenizer = CodecTokenizer.from_config(cfg)
        self.model = self.tokenizer.model
        if self.tcfg.init_from:
            _load_init(self.model, cfg, Path(self.tcfg.init_from))
        elif self.tcfg.decoder_only:
            raise DataError("codec.train.decoder_only needs codec.train.init_from: a fresh encoder has nothing to keep")
        trained = self.model.decoder if self.tcfg.decoder_only else self.model
        self.sampler = ClipSampler(clips, int(round(self.tcfg.segment_seconds * cfg.sample_rate)), self.tcfg.seed)
        self.optimizer = torch.optim.Adam(trained.parameters(), lr=self.tcfg.lr, betas=(0.5, 0.9))
        self.disc = self.disc_optimizer = None
        if self.tcfg.w_adv > 0 or self.tcfg.w_feat > 0:
            self.disc = build_discriminator(self.tcfg.disc_filters)
            self.disc_optimizer = torch.optim.Adam(self.disc.parameters(), lr=self.tcfg.disc_lr, betas=(0.5, 0.9))
        self.mels = MultiScaleMel(cfg.sample_rate, list(self.tcfg.mel_scales))
        self.specs = MultiScaleSTFT(list(self.tcfg.stft_scales)) if self.tcfg.w_logstft > 0 else None
        self.capture = ResidualCapture(self.model)
        self.history: list[dict] = []
        self.on_log = on_log
        self._window: tuple[float, int, dict[str, float]] = (time.monotonic(), 0, {})

    def load_state(self, state: dict) -> None:
        """Put back model, optimizer, RNGs and the log of a checkpoint."""
        saved = config_from_dict(state["config"])
        if asdict(saved) != asdict(self.cfg):
            log.warning("resuming codec training with a config that differs from the checkpoint's")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.disc is not None and "disc" in state:
            self.disc.load_state_dict(state["disc"])
            self.disc_optimizer.load_state_dict(state["disc_optimizer"])
        self.history = list(state.get("history", []))
        # Lines logged after this checkpoint by a run that was then killed are dropped: they are about to be redone.
        atomic_write_text(self.work_dir / "log.jsonl", "".join(json.dumps(e) + "\n" for e in self.history))
        torch.set_rng_state(state["rng"])
        self.sampler.generator.set_state(state["data_rng"])

    def state(self) -> dict:
        """Everything needed to continue exactly (the skeleton adds the step)."""
        state = {"config": asdict(self.cfg), "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "rng": torch.get_rng_state(), "data_rng": self.sampler.generator.get_state(), "history": self.history}
        if self.disc is not None:
            state.update(disc=self.disc.state_dict(), disc_optimizer=self.disc_optimizer.state_dict())
        return state

    def save_snapshot(self) -> Path:
        """fp16 tokenizer file of the current weights, for learning-curve evaluation."""
        path = self.work_dir / SNAPSHOT_DIR / f"step_{self.step:07d}.pt"
        self.tokenizer.save(path, half=True)
        return path

    @torch.no_grad()
    def init_codebooks(self) -> None:
        """k-means on encoder frames of real crops (fresh encodec codebooks are all zeros)."""
        crops = self.sampler.batch(self.tcfg.kmeans_crops)
        self.model.eval()
        emb = torch.cat([self.model.encoder(part[:, None]) for part in crops.split(16)])
        frames = emb.transpose(1, 2).reshape(-1, emb.shape[1])
        kmeans_init_(self.model, frames, self.tcfg.kmeans_iters, self.sampler.generator)

    def set_lr(self, progress: float) -> float:
        """Constant LR, then (if train.lr_decay > 0) a linear decay to lr * lr_min_ratio over the
        last part of the step budget (or of this invocation's time budget)."""
        t = self.tcfg
        return set_lr(self.optimizer, t.lr * decay_factor(progress, t.lr_min_ratio, "linear", t.lr_decay))

    def train_step(self) -> dict:
        """One optimisation step on a fresh batch with a random bandwidth at the scheduled LR; returns the loss terms."""
        t = self.tcfg
        # Step progress counts from step 0, so a resumed step-budgeted run follows the uninterrupted schedule;
        # a time budget belongs to one invocation, so its share restarts with each run.
        self.set_lr(max(self.step / max(1, self.total_steps), self.budget.share()))
        x = self.sampler.batch(t.batch_size)
        bandwidth = self.sampler.choice(list(t.bandwidths))
        quantized, l_commit = self._quantize(x, bandwidth)
        y = self.model.decoder(quantized)[:, 0, : x.shape[-1]]
        l_time = (y - x).abs().mean()
        l_log, l_lin = mel_losses(self.mels, x, y)
        loss = t.w_time * l_time + t.w_logmel * l_log + t.w_linmel * l_lin + t.w_commit * l_commit
        terms = {"time_l1": l_time, "log_mel": l_log, "lin_mel": l_lin, "commit": l_commit}
        if self.specs is not None:
            terms["log_stft"] = log_stft_loss(self.specs, x, y)
            loss = loss + t.w_logstft * terms["log_stft"]
        if self.disc is not None:
            terms["adv"], terms["feat"] = generator_losses(self.disc, x, y)
            loss = loss + t.w_adv * terms["adv"] + t.w_feat * terms["feat"]
        self.optimizer.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            self.optimizer.step()
        if self.disc is not None:
            terms["disc"] = discriminator_loss(self.disc, x, y)
            self.disc_optimizer.zero_grad(set_to_none=True)
            if torch.isfinite(terms["disc"]):
                terms["disc"].backward()
                self.disc_optimizer.step()
        replaced = 0
        if not t.decoder_only:  # frozen codebooks: re-seeding a code would change the tokens
            for book, inputs in zip(codebooks(self.model), self.capture.inputs):
                if inputs is not None:
                    replaced += replace_dead_codes_(book, inputs, t.dead_code_threshold, t.dead_code_reset)
        terms["loss"] = loss
        out = {key: float(value.detach()) for key, value in terms.items()}
        out.update(bandwidth=bandwidth, replaced=replaced, lr=self.optimizer.param_groups[0]["lr"])
        return out

    def _quantize(self, x: torch.Tensor, bandwidth: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(quantized latent, commitment loss) of a [B, T] batch; with decoder_only the encoder and codebooks run frozen
        in eval mode (no EMA update), so the codes are exactly those of the file the run started from."""
        self.capture.clear()
        if not self.tcfg.decoder_only:
            self.model.train()
            q = self.model.quantizer(self.model.encoder(x[:, None]), self.model.frame_rate, bandwidth)
            return q.quantized, q.penalty
        self.model.eval()
        self.model.decoder.train()
        with torch.no_grad():
            q = self.model.quantizer(self.model.encoder(x[:, None]), self.model.frame_rate, bandwidth)
        return q.quantized, torch.zeros(())

    def after_step(self, terms: dict | None) -> None:
        """Log the window's mean loss terms every `log_every` steps and write a snapshot every `snapshot_every`."""
        window_start, window_steps, acc = self._window
        for key, value in (terms or {}).items():
            acc[key] = acc.get(key, 0.0) + value
        window_steps += 1
        if self.step % self.tcfg.log_every == 0 or self.step == self.total_steps:
            elapsed = time.monotonic() - window_start
            entry = {"step": self.step, "steps_per_s": round(window_steps / max(elapsed, 1e-9), 3)}
            entry.update({k: round(v / window_steps, 5) for k, v in acc.items()})
            self._log(entry)
            window_start, window_steps, acc = time.monotonic(), 0, {}
        self._window = (window_start, window_steps, acc)
        if self.tcfg.snapshot_every and self.step % self.tcfg.snapshot_every == 0:
            self.save_snapshot()

    def train(self, steps: int | None = None, max_minutes: float | None = None) -> CodecTokenizer:
        """Train until `steps` total steps or `max_minutes` of wall time; checkpoints periodically and at the end."""
        torch.set_num_threads(max(1, self.tcfg.threads))
        torch.set_flush_denormal(True)
        self.total_steps = self.tcfg.steps if steps is None else steps
        if self.step == 0 and not self.state_path.exists() and not self.tcfg.init_from:
            self.init_codebooks()
            self.save_snapshot()
        self._window = (time.monotonic(), 0, {})
        self.run(Budget(max_minutes or None))
        self.model.eval()
        return self.tokenizer

    def _log(self, entry: dict) -> None:
        self.history.append(entry)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with open(self.work_dir / "log.jsonl", "a") as fh:
            fh.write(json.dumps(entry) + "\n")
        if self.on_log:
            self.on_log(entry)
        log.info("codec step %d: %s", entry["step"], ", ".join(f"{k}={v}" for k, v in entry.items() if k != "step"))


def _load_init(model: torch.nn.Module, cfg: CodecConfig, path: Path) -> None:
    """Copy a saved small codec's weights into `model`; the architecture fields of the two configs must agree."""
    start = CodecTokenizer.load(path)
    fields = ("sample_rate", "n_filters", "dimension", "ratios", "bins", "lstm", "causal", "max_bandwidth")
    differ = [f for f in fields if getattr(start.cfg, f) != getattr(cfg, f)]
    if start.arch != SMALL or differ:
        raise DataError(f"codec.train.init_from {path} does not match this run's codec ({', '.join(differ) or start.arch})")
    model.load_state_dict(start.model.state_dict())


def is_trainable(tokenizer: CodecTokenizer) -> bool:
    """Whether this tokenizer is the small architecture that `strata train codec` trains."""
    return tokenizer.arch == SMALL
