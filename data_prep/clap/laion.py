"""Offline-safe access to laion-clap's model code and the official checkpoint layout.

`import laion_clap` builds Hugging Face tokenizers at import time (it hangs offline), so the package folder
is put on sys.path and `clap_module` is imported directly. The official music checkpoints are HTSAT-base +
RoBERTa; RoBERTa is built from a local config (tokenizer folder's config.json, else roberta-base's shape)
instead of `from_pretrained`, which would reach the hub.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator

import torch

from ..errors import DataError

ROBERTA_BASE = dict(
    vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2,
)
TEXT_HIDDEN = 768  # laion-clap hard-codes a 768-wide projection after RoBERTa


def clap_module() -> ModuleType:
    """The `clap_module` package bundled in laion-clap, imported without running laion_clap/__init__."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if "clap_module" not in sys.modules:
        spec = importlib.util.find_spec("laion_clap")
        if spec is None or not spec.submodule_search_locations:
            raise DataError("laion-clap is not installed in this environment (run `make setup`)")
        folder = str(list(spec.submodule_search_locations)[0])
        if folder not in sys.path:
            sys.path.append(folder)
    return importlib.import_module("clap_module")


def clip_tokenize(texts: list[str], context_length: int = 77) -> torch.Tensor:
    """CLIP BPE token ids [B, context_length] from laion-clap's bundled vocabulary (offline)."""
    clap_module()
    tokenizer = importlib.import_module("clap_module.tokenizer")
    return tokenizer.tokenize(list(texts), context_length=context_length)


def roberta_config(tokenizer_path: str | None) -> dict:
    """RoBERTa shape: the local folder's config.json if present, else roberta-base's."""
    if tokenizer_path:
        cfg_file = Path(tokenizer_path) / "config.json"
        if cfg_file.is_file():
            data = json.loads(cfg_file.read_text())
            known = {k: data[k] for k in ROBERTA_BASE if k in data}
            return {**ROBERTA_BASE, **known}
    return dict(ROBERTA_BASE)


@contextlib.contextmanager
def _offline_roberta(config: dict) -> Iterator[None]:
    """Make laion-clap's `RobertaModel.from_pretrained('roberta-base')` build a random local model instead."""
    from transformers import RobertaConfig, RobertaModel

    model_mod = importlib.import_module("clap_module.model")

    class _LocalRoberta:
        @staticmethod
        def from_pretrained(*_args, **_kwargs):
            return RobertaModel(RobertaConfig(**config), add_pooling_layer=True)

    original = model_mod.RobertaModel
    model_mod.RobertaModel = _LocalRoberta
    try:
        yield
    finally:
        model_mod.RobertaModel = original


def build_official(audio_model: str, text_model: str, tokenizer_path: str | None = None) -> torch.nn.Module:
    """A randomly initialised laion-clap CLAP of the named architecture, built without network access."""
    module = clap_module()
    if text_model not in ("roberta", "transformer"):
        raise DataError(f"clap.text_model must be 'roberta' or 'transformer' offline, got '{text_model}'")
    rcfg = roberta_config(tokenizer_path)
    if text_model == "roberta" and rcfg["hidden_size"] != TEXT_HIDDEN:
        raise DataError(f"RoBERTa hidden_size must be {TEXT_HIDDEN} for laion-clap, got {rcfg['hidden_size']}")
    with _offline_roberta(rcfg):
        model, _ = module.create_model(audio_model, text_model, pretrained="", enable_fusion=False)
    return model.eval()


def official_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of an official checkpoint: unwraps {"state_dict": ...} and strips DataParallel's "module." prefix."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CLAP checkpoint not found: {path} (set clap.pretrained to a local .pt file, or null to train)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataError(f"cannot read CLAP checkpoint {path}: {str(exc).splitlines()[0]}") from None
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        raise DataError(f"CLAP checkpoint {path} holds no state dict")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def load_official(path: str | os.PathLike, audio_model: str, text_model: str,
                  tokenizer_path: str | None = None) -> torch.nn.Module:
    """Build the architecture offline and load an official checkpoint into it (strict, minus position_ids buffers)."""
    state = official_state_dict(path)
    model = build_official(audio_model, text_model, tokenizer_path)
    expected = model.state_dict()
    state = {k: v for k, v in state.items() if k in expected or not k.endswith("position_ids")}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise DataError(f"CLAP checkpoint {path} does not match {audio_model}+{text_model}: "
                        f"{str(exc).splitlines()[-1].strip()[:160]}") from None
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise DataError(
            f"CLAP checkpoint {path} does not match {audio_model}+{text_model}: "
            f"{len(missing)} missing keys (e.g. {missing[:1]}), {len(unexpected)} unexpected (e.g. {unexpected[:1]})"
        )
    return model.eval()


def save_official_layout(model: torch.nn.Module, path: str | os.PathLike, epoch: int = 0) -> None:
    """Write `model` the way the official training script does: {"epoch", "state_dict": {"module." + key}}."""
    from training.files import atomic_torch_save

    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    atomic_torch_save({"epoch": epoch, "state_dict": state}, path)
