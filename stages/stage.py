"""A trained stage: its transformer and its layout, saved together as one plain fp32 model.pt."""
from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import torch

from .config import ModelConfig
from .errors import StageError
from training.files import atomic_torch_save
from .layout_registry import layout_from_spec
from .layouts import Layout
from .transformer import Transformer

FORMAT_VERSION = 1


class Stage:
    """Model + layout of one stage. model.pt = {format, stage, config, layout, vocab, state_dict, info}."""

    def __init__(self, model: Transformer, layout: Layout, info: dict[str, Any] | None = None) -> None:
        if model.vocab_size != layout.vocab.size:
            raise StageError(f"model vocabulary {model.vocab_size} != layout vocabulary {layout.vocab.size}")
        if model.streams != layout.streams:
            raise StageError(f"model reads {model.streams} token streams, the {layout.kind} layout {layout.streams}")
        self.model = model
        self.layout = layout
        self.info = dict(info or {})

    @property
    def name(self) -> str:
        """semantic, coarse or fine."""
        return self.layout.stage

    @classmethod
    def build(cls, cfg: ModelConfig, layout: Layout) -> "Stage":
        """A freshly initialised stage for `layout`."""
        return cls(Transformer(cfg, layout.vocab.size, streams=layout.streams), layout)

    def to_dict(self) -> dict[str, Any]:
        """The exported checkpoint: fp32 weights plus everything needed to rebuild model and layout."""
        copies: dict[int, torch.Tensor] = {}
        state = {k: copies.setdefault(v.data_ptr(), v.detach().float().cpu().clone())
                 for k, v in self.model.state_dict().items()}  # tied weights stay one tensor in the file
        return {"format": FORMAT_VERSION, "stage": self.name, "config": asdict(self.model.cfg),
                "layout": self.layout.spec(), "vocab": self.layout.vocab.spec(),
                "state_dict": state, "info": self.info}

    def save(self, path: str | os.PathLike) -> None:
        """Write model.pt atomically."""
        atomic_torch_save(self.to_dict(), path)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Stage":
        """Rebuild from `to_dict()` output."""
        layout = layout_from_spec(data["layout"])
        if layout.vocab.spec() != data["vocab"]:
            raise StageError("model.pt vocabulary does not match its layout: the file is from an incompatible version")
        model = Transformer(ModelConfig(**data["config"]), layout.vocab.size, streams=layout.streams)
        model.load_state_dict(data["state_dict"])
        model.eval()
        return cls(model, layout, data.get("info"))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> "Stage":
        """Load an exported model.pt (weights_only) onto `device`, in eval mode."""
        if not os.path.isfile(path):
            raise StageError(f"stage model not found: {path} (train it with `strata train stage`)")
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises RuntimeError/UnpicklingError/EOFError for damaged files
            raise StageError(f"{path} is not a readable stage model (truncated or corrupt?): {type(exc).__name__}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            raise StageError(f"{path} is not a Strata stage model.pt (format {FORMAT_VERSION})")
        stage = cls.from_dict(data)
        stage.model.to(device)
        return stage
