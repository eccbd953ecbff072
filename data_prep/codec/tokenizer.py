"""CodecTokenizer: waveform <-> EnCodec RVQ codes [B, Q, F], batched and chunked, for the coarse/fine stages."""
from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from training.files import atomic_torch_save, atomic_write_text, file_digest

from ..audio_io import as_mono_batch
from ..errors import DataError
from ..files import load_weights
from .config import CodecConfig, CodecTrainConfig
from .model import OFFICIAL, SMALL, bandwidth_per_level, build_official, build_small

CHECKSUM_SUFFIX = ".sha256"


def config_from_dict(data: dict) -> CodecConfig:
    """Rebuild a CodecConfig from its asdict() form, ignoring keys this version does not know."""
    data = dict(data)
    train = {k: v for k, v in dict(data.pop("train", {}) or {}).items() if k in CodecTrainConfig.__dataclass_fields__}
    known = {k: v for k, v in data.items() if k in CodecConfig.__dataclass_fields__}
    return CodecConfig(**known, train=CodecTrainConfig(**train))


class CodecTokenizer:
    """An EnCodec model plus the bandwidth and coarse/fine split that define the acoustic tokens."""

    def __init__(self, model: nn.Module, cfg: CodecConfig, arch: str):
        self.model = model.eval()
        self.cfg = cfg
        self.arch = arch
        per_level = bandwidth_per_level(cfg.sample_rate, self._ratios(), self.bins)
        total = len(model.quantizer.vq.layers)
        self._n_q = min(total, max(1, int(math.floor(cfg.bandwidth / per_level + 1e-9))))
        if not 1 <= cfg.n_coarse <= self._n_q:
            raise DataError(f"codec.n_coarse={cfg.n_coarse} must be between 1 and n_q={self._n_q} (codec.bandwidth={cfg.bandwidth})")

    def _ratios(self) -> list[int]:
        return list(self.model.decoder.ratios)

    @classmethod
    def from_config(cls, cfg: CodecConfig) -> "CodecTokenizer":
        """'official' -> package download (online only); a path -> official architecture from that state dict; None -> small, fresh."""
        if cfg.pretrained is None:
            return cls(build_small(cfg), cfg, SMALL)
        if cfg.pretrained == OFFICIAL:
            try:
                model = build_official(pretrained=True)
            except Exception as exc:
                raise DataError(
                    "could not download the official EnCodec 24 kHz weights (offline?): set codec.pretrained to a local "
                    f"encodec_24khz-d7cc33bc.th path ({type(exc).__name__})"
                ) from None
            return cls(model, cfg, OFFICIAL)
        path = Path(cfg.pretrained)
        if not path.is_file():
            raise DataError(f"codec.pretrained file not found: {path} (give an EnCodec 24 kHz state dict, 'official' or null)")
        state = _load_file(path)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        model = build_official(pretrained=False)
        _load_state(model, state, path)
        return cls(model, cfg, OFFICIAL)

    @classmethod
    def load(cls, path: str | Path) -> "CodecTokenizer":
        """Load a tokenizer saved by `save` (fp16 weights come back as fp32); verifies a .sha256 sidecar if present."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"codec checkpoint not found: {path} (train one with `strata train codec`)")
        sidecar = path.with_name(path.name + CHECKSUM_SUFFIX)
        if sidecar.is_file():
            expected = sidecar.read_text().split()[0].strip()
            if file_digest(path) != expected:
                raise DataError(f"codec checkpoint {path} does not match its checksum {sidecar.name}: re-copy or retrain it")
        blob = _load_file(path)
        if not isinstance(blob, dict) or "config" not in blob or "state_dict" not in blob:
            raise DataError(f"{path} is not a Strata codec checkpoint (expected keys 'config' and 'state_dict')")
        cfg = config_from_dict(blob["config"])
        arch = blob.get("arch", SMALL)
        model = build_official(pretrained=False) if arch == OFFICIAL else build_small(cfg)
        state = {k: v.float() if torch.is_floating_point(v) else v for k, v in blob["state_dict"].items()}
        _load_state(model, state, path)
        return cls(model, cfg, arch)

    def save(self, path: str | Path, half: bool = False, checksum: bool = False) -> None:
        """Atomically write {"config", "arch", "state_dict"}; half=True stores weights as fp16 (codebooks stay fp32)."""
        state = {k: (v.detach().half() if half and _halvable(k, v) else v.detach()).clone()
                 for k, v in self.model.state_dict().items()}
        atomic_torch_save({"config": asdict(self.cfg), "arch": self.arch, "state_dict": state}, path)
        if checksum:
            atomic_write_text(str(path) + CHECKSUM_SUFFIX, f"{file_digest(path)}  {Path(path).name}\n")

    @property
    def sample_rate(self) -> int:
        return int(self.model.sample_rate)

    @property
    def hop_length(self) -> int:
        return int(math.prod(self._ratios()))

    @property
    def frame_rate(self) -> int:
        return int(self.model.frame_rate)

    @property
    def n_q(self) -> int:
        return self._n_q

    @property
    def n_coarse(self) -> int:
        return int(self.cfg.n_coarse)

    @property
    def bins(self) -> int:
        return int(self.model.quantizer.bins)

    def num_parameters(self) -> int:
        """Trainable parameter count."""
        return sum(p.numel() for p in self.model.parameters())

    def _chunks(self, frames: int) -> tuple[int, int]:
        chunk = max(1, int(round(self.cfg.chunk_seconds * self.frame_rate)))
        context = max(0, int(round(self.cfg.context_seconds * self.frame_rate)))
        return chunk, context

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """[B, T] (or [T]) waveform at `sample_rate` -> LongTensor[B, n_q, ceil(T / hop)] codes."""
        wav = as_mono_batch(wav)
        hop = self.hop_length
        frames = max(1, math.ceil(wav.shape[-1] / hop))
        chunk, context = self._chunks(frames)
        wav = torch.nn.functional.pad(wav, (0, frames * hop - wav.shape[-1]))
        out = []
        with torch.inference_mode():
            for start in range(0, frames, chunk):
                stop = min(frames, start + chunk)
                lo, hi = max(0, start - context), min(frames, stop + context)
                emb = self.model.encoder(wav[:, None, lo * hop:hi * hop])
                codes = self.model.quantizer.vq.encode(emb, n_q=self.n_q)
                out.append(codes.transpose(0, 1)[:, :, start - lo:stop - lo])
        return torch.cat(out, dim=-1).long()

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """LongTensor[B, Q, F] with Q <= n_q (the first Q levels, e.g. coarse only) -> [B, F * hop] waveform."""
        if codes.dim() == 2:
            codes = codes[None]
        if codes.dim() != 3 or not 1 <= codes.shape[1] <= self.n_q:
            raise DataError(f"codec.decode expects codes [B, Q, F] with 1 <= Q <= {self.n_q}, got {tuple(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.bins):
            raise DataError(f"codec codes must lie in [0, {self.bins}), got [{int(codes.min())}, {int(codes.max())}]")
        frames = codes.shape[-1]
        hop = self.hop_length
        chunk, context = self._chunks(frames)
        out = []
        with torch.inference_mode():
            for start in range(0, frames, chunk):
                stop = min(frames, start + chunk)
                lo, hi = max(0, start - context), min(frames, stop + context)
                emb = self.model.quantizer.decode(codes[:, :, lo:hi].long().transpose(0, 1))
                wav = self.model.decoder(emb)[:, 0]
                out.append(wav[:, (start - lo) * hop:(stop - lo) * hop])
        return torch.cat(out, dim=-1)


def _halvable(key: str, value: torch.Tensor) -> bool:
    """fp16 saves keep the codebooks fp32 so that token assignments do not change."""
    return torch.is_floating_point(value) and not key.endswith("_codebook.embed")


def _load_file(path: Path) -> object:
    try:
        return load_weights(path)
    except Exception as exc:
        raise DataError(f"cannot read codec checkpoint {path}: {str(exc).splitlines()[0][:200]}") from None


def _load_state(model: nn.Module, state: object, path: Path) -> None:
    if not isinstance(state, dict):
        raise DataError(f"{path} does not hold a state dict")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise DataError(f"{path} does not fit the codec architecture: {str(exc).splitlines()[0][:200]}") from None
