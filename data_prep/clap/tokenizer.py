"""ConditionTokenizer: CLAP audio/text embeddings and their RVQ tokens (the MusicLM "M" tokens).

Audio is embedded on `window_seconds` windows with a `hop_seconds` hop; window embeddings are averaged and
L2-normalised (MusicLM). Text goes through the text tower and the same quantizer, so both token kinds share
one vocabulary: `levels` tokens, each in [0, bins).
"""
from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from training.files import atomic_torch_save

from ..audio_io import as_mono_batch, resample
from ..errors import DataError
from ..files import load_weights
from ..rvq import ResidualVQ
from .config import ClapConfig

KIND_SMALL = "small"
KIND_OFFICIAL = "official"
OFFICIAL_SAMPLE_RATE = 48000
OFFICIAL_CLIP_SECONDS = 10.0


def window_starts(num_samples: int, window: int, hop: int) -> list[int]:
    """Start offsets of `window`-long windows every `hop` samples; the last window ends at the clip's end."""
    if num_samples <= window:
        return [0]
    starts = list(range(0, num_samples - window + 1, hop))
    if starts[-1] + window < num_samples:
        starts.append(num_samples - window)
    return starts


class ConditionTokenizer:
    """CLAP embedding model + RVQ; `rvq` may be None until it is fitted."""

    def __init__(self, config: ClapConfig, model: torch.nn.Module, kind: str, rvq: ResidualVQ | None = None,
                 text_tokenizer: object | None = None) -> None:
        self.config = config
        self.model = model.eval()
        self.kind = kind
        self.rvq = rvq
        self._text_tokenizer = text_tokenizer

    # construction ---------------------------------------------------------------------------------------
    @classmethod
    def small(cls, config: ClapConfig) -> "ConditionTokenizer":
        """A freshly initialised small trainable CLAP."""
        from .small import SmallClap

        return cls(config, SmallClap(config), KIND_SMALL)

    @classmethod
    def official(cls, config: ClapConfig) -> "ConditionTokenizer":
        """The official checkpoint at `config.pretrained` (local file), with its text tokenizer from a local folder."""
        from .laion import load_official

        if not config.pretrained:
            raise DataError("clap.pretrained is not set: give a local official checkpoint path")
        model = load_official(config.pretrained, config.audio_model, config.text_model, config.tokenizer_path)
        return cls(config, model, KIND_OFFICIAL)

    @classmethod
    def load(cls, clap_path: str | os.PathLike, rvq_path: str | os.PathLike | None = None) -> "ConditionTokenizer":
        """Rebuild from clap.pt (and rvq.pt when given) without the training code."""
        clap_path = Path(clap_path)
        if not clap_path.is_file():
            raise DataError(f"CLAP file not found: {clap_path} (run `strata train clap` first)")
        blob = load_weights(clap_path)
        config = _config_from(blob["config"])
        if blob["kind"] == KIND_OFFICIAL:
            tok = cls.official(config)
        else:
            tok = cls.small(config)
            tok.model.load_state_dict(unpack_token_rows(blob["state_dict"]))
            tok.model.eval()
        if rvq_path is not None:
            tok.rvq = ResidualVQ.load(rvq_path)
        return tok

    def save(self, path: str | os.PathLike) -> None:
        """Write clap.pt atomically; an official model is stored by reference to its checkpoint path."""
        blob: dict = {"config": asdict(self.config), "kind": self.kind}
        if self.kind == KIND_SMALL:
            blob["state_dict"] = pack_token_rows(self.model.state_dict())
        atomic_torch_save(blob, path)

    # properties -----------------------------------------------------------------------------------------
    @property
    def levels(self) -> int:
        return self._require_rvq().levels

    @property
    def bins(self) -> int:
        return self._require_rvq().bins

    @property
    def sample_rate(self) -> int:
        """Rate the audio tower reads (input audio is resampled to it)."""
        return OFFICIAL_SAMPLE_RATE if self.kind == KIND_OFFICIAL else self.config.sample_rate

    # embeddings -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def embed_audio(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Mono [T] / [B, T] (or [B, C, T]) audio -> Float[B, D]: window embeddings averaged, L2-normalised."""
        wav = as_mono_batch(wav)
        wav = resample(wav, sample_rate, self.sample_rate)
        window = int(round(self.config.window_seconds * self.sample_rate))
        hop = max(1, int(round(self.config.hop_seconds * self.sample_rate)))
        if self.kind == KIND_SMALL:
            return self._embed_small(wav, window, hop)
        return self._embed_official(wav, window, hop)

    @torch.no_grad()
    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """Captions -> Float[B, D], L2-normalised."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            raise DataError("embed_text needs at least one text")
        if self.kind == KIND_SMALL:
            return self.model.embed_tokens(self.model.tokenize(list(texts)))
        return F.normalize(self.model.encode_text(self._official_text_input(list(texts)), device="cpu"), dim=-1)

    # tokens ---------------------------------------------------------------------------------------------
    def quantize(self, emb: torch.Tensor) -> torch.Tensor:
        """Float[B, D] -> Long[B, levels]."""
        return self._require_rvq().encode(emb)

    def dequantize(self, tokens: torch.Tensor) -> torch.Tensor:
        """Long[B, levels] -> Float[B, D], L2-normalised."""
        return F.normalize(self._require_rvq().decode(tokens), dim=-1)

    def audio_tokens(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Audio -> Long[B, levels] conditioning tokens."""
        return self.quantize(self.embed_audio(wav, sample_rate))

    def text_tokens(self, texts: list[str]) -> torch.Tensor:
        """Text -> Long[B, levels] conditioning tokens (same quantizer as audio)."""
        return self.quantize(self.embed_text(texts))

    # internals ------------------------------------------------------------------------------------------
    def _embed_small(self, wav: torch.Tensor, window: int, hop: int) -> torch.Tensor:
        return self.embed_log_mel(self.model.frontend(wav))

    @torch.no_grad()
    def embed_log_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """Small CLAP only: log-mel [B, n_mels, frames] -> Float[B, D], windowed like `embed_audio`."""
        total = mel.shape[-1]
        win_f = max(8, int(round(self.config.window_seconds * self.config.sample_rate / self.config.mel_hop)))
        hop_f = max(1, int(round(self.config.hop_seconds * self.config.sample_rate / self.config.mel_hop)))
        starts = window_starts(total, win_f, hop_f)
        pieces = torch.stack([mel[..., s:s + win_f] for s in starts], dim=1) if total > win_f else mel[:, None]
        b, n = pieces.shape[:2]
        emb = self.model.embed_mel(pieces.reshape(b * n, *pieces.shape[2:])).reshape(b, n, -1)
        return F.normalize(emb.mean(dim=1), dim=-1)

    def _embed_official(self, wav: torch.Tensor, window: int, hop: int) -> torch.Tensor:
        clip = int(OFFICIAL_CLIP_SECONDS * OFFICIAL_SAMPLE_RATE)
        out = []
        for row in wav:
            starts = window_starts(row.shape[-1], window, hop)
            chunks = [_repeat_pad(row[s:s + window], clip) for s in starts]
            batch = torch.stack(chunks)
            inputs = {"waveform": batch, "longer": torch.zeros(batch.shape[0], dtype=torch.bool)}
            emb = self.model.audio_projection(self.model.encode_audio(inputs, device="cpu")["embedding"])
            out.append(F.normalize(F.normalize(emb, dim=-1).mean(dim=0), dim=-1))
        return torch.stack(out)

    def _official_text_input(self, texts: list[str]) -> object:
        if self.config.text_model == "transformer":
            from .laion import clip_tokenize

            return clip_tokenize(texts)
        if self._text_tokenizer is None:
            self._text_tokenizer = _roberta_tokenizer(self.config.tokenizer_path)
        enc = self._text_tokenizer(texts, padding="max_length", truncation=True, max_length=77, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def _require_rvq(self) -> ResidualVQ:
        if self.rvq is None:
            raise DataError("the CLAP quantizer is not fitted yet: run `strata train clap` (it writes tokenizers/rvq.pt)")
        return self.rvq


TOKEN_TABLE = "text.token_embedding.weight"


def pack_token_rows(state: dict) -> dict:
    """Store the 49k-row token table as its non-zero rows + ids when most rows are zero (never-seen BPE tokens)."""
    table = state.get(TOKEN_TABLE)
    if table is None:
        return state
    ids = (table != 0).any(dim=1).nonzero().squeeze(1)
    if ids.numel() > table.shape[0] // 2:
        return state
    out = {k: v for k, v in state.items() if k != TOKEN_TABLE}
    out[TOKEN_TABLE + ".ids"] = ids
    out[TOKEN_TABLE + ".rows"] = table[ids].clone()
    out[TOKEN_TABLE + ".shape"] = torch.tensor(list(table.shape))
    return out


def unpack_token_rows(state: dict) -> dict:
    """Inverse of `pack_token_rows`."""
    if TOKEN_TABLE + ".ids" not in state:
        return state
    out = {k: v for k, v in state.items() if not k.startswith(TOKEN_TABLE + ".")}
    rows = state[TOKEN_TABLE + ".rows"]
    table = torch.zeros(*state[TOKEN_TABLE + ".shape"].tolist(), dtype=rows.dtype)
    table[state[TOKEN_TABLE + ".ids"]] = rows
    out[TOKEN_TABLE] = table
    return out


def _roberta_tokenizer(path: str | None) -> object:
    """RoBERTa tokenizer from a local folder (vocab.json + merges.txt), else from the offline HF cache."""
    from transformers import RobertaTokenizer

    try:
        if path:
            folder = Path(path)
            return RobertaTokenizer(vocab_file=str(folder / "vocab.json"), merges_file=str(folder / "merges.txt"))
        return RobertaTokenizer.from_pretrained("roberta-base", local_files_only=True)
    except Exception as exc:
        raise DataError(
            f"RoBERTa tokenizer files not found ({path or 'HF cache'}): set clap.tokenizer_path to a folder with "
            f"vocab.json and merges.txt ({str(exc).splitlines()[0][:80]})"
        ) from None


def _repeat_pad(x: torch.Tensor, length: int) -> torch.Tensor:
    if x.shape[-1] >= length:
        return x[:length]
    reps = length // max(1, x.shape[-1]) + 1
    return x.repeat(reps)[:length]


def _config_from(data: dict) -> ClapConfig:
    from .config import ClapTrainConfig

    data = dict(data)
    train = ClapTrainConfig(**data.pop("train", {}))
    return ClapConfig(**data, train=train)
