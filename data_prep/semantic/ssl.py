"""fairseq2 self-supervised speech/music encoders (wav2vec 2.0, w2v-BERT): build, save, load, read one layer.

Models are built offline from config objects; checkpoints use fairseq2's own layout ({"model": state_dict}),
so a checkpoint written here loads with fairseq2's `load_custom_model` and an official local file loads here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torchaudio.compliance.kaldi as kaldi

from training.files import atomic_torch_save

from ..errors import DataError
from .config import SemanticConfig
from .fairseq2_env import ensure_fairseq2

WAV2VEC2_HOP = 640
W2VBERT_HOP = 320


def build_fairseq2_config(cfg: SemanticConfig) -> Any:
    """The fairseq2 config object (Wav2Vec2Config or W2VBertConfig) for `cfg`'s family and sizes."""
    ensure_fairseq2()
    from fairseq2.models.wav2vec2 import Wav2Vec2Config, Wav2Vec2EncoderConfig

    if cfg.family == "w2vbert":
        from fairseq2.models.w2vbert import W2VBertConfig

        config = W2VBertConfig()
        enc = config.w2v2_config.encoder_config
        enc.model_dim, enc.num_encoder_layers = cfg.model_dim, cfg.num_layers
        enc.num_encoder_attn_heads, enc.ffn_inner_dim = cfg.num_heads, cfg.ffn_dim
        config.num_bert_encoder_layers = max(1, (cfg.num_layers * 2) // 3)
        return config
    c = cfg.conv_channels
    enc = Wav2Vec2EncoderConfig(
        model_dim=cfg.model_dim,
        feature_dim=c,
        feature_extractor_layer_descs=[(c, 10, 5), (c, 4, 4), (c, 4, 4), (c, 2, 2), (c, 2, 2), (c, 2, 2)],
        feature_extractor_layer_norm_convs=False,
        num_encoder_layers=cfg.num_layers,
        num_encoder_attn_heads=cfg.num_heads,
        ffn_inner_dim=cfg.ffn_dim,
        pos_conv_kernel_size=32,
        num_pos_conv_groups=min(16, cfg.model_dim // 16) or 1,
        dropout_p=0.1,
        attn_dropout_p=0.1,
        layer_drop_p=0.0,
    )
    return Wav2Vec2Config(
        encoder_config=enc,
        final_dim=min(256, cfg.model_dim),
        quantized_dim=min(256, cfg.model_dim),
        num_codebooks=2,
        num_codebook_entries=64,
        temporal_mask_span_len=4,
        max_temporal_mask_prob=0.5,
        num_distractors=50,
    )


def create_model(cfg: SemanticConfig) -> torch.nn.Module:
    """A freshly initialised fairseq2 model (Wav2Vec2Model or W2VBertModel) on CPU."""
    ensure_fairseq2()
    config = build_fairseq2_config(cfg)
    if cfg.family == "w2vbert":
        from fairseq2.models.w2vbert import create_w2vbert_model

        return create_w2vbert_model(config)
    from fairseq2.models.wav2vec2 import create_wav2vec2_model

    return create_wav2vec2_model(config)


def save_fairseq2_checkpoint(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Write `model` in fairseq2's checkpoint layout ({"model": state_dict}), atomically."""
    atomic_torch_save({"model": model.state_dict()}, path)


def load_fairseq2_checkpoint(cfg: SemanticConfig, path: str | os.PathLike) -> torch.nn.Module:
    """Load a local fairseq2 checkpoint of `cfg`'s family and sizes through fairseq2's model hub."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"semantic checkpoint not found: {path} (set semantic.pretrained to a local fairseq2 .pt file)")
    ensure_fairseq2()
    config = build_fairseq2_config(cfg)
    if cfg.family == "w2vbert":
        from fairseq2.models.w2vbert import get_w2vbert_model_hub as get_hub
    else:
        from fairseq2.models.wav2vec2 import get_wav2vec2_model_hub as get_hub
    try:
        model = get_hub().load_custom_model(path, config, device=torch.device("cpu"), dtype=torch.float32)
    except Exception as exc:
        raise DataError(
            f"cannot load {path} as a fairseq2 {cfg.family} checkpoint with semantic.model_dim={cfg.model_dim}, "
            f"num_layers={cfg.num_layers}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    return model


def load_pretrained(cfg: SemanticConfig) -> torch.nn.Module:
    """`semantic.pretrained`: a local fairseq2 checkpoint file, or else a fairseq2 asset-card name (downloads when online)."""
    assert cfg.pretrained
    path = Path(cfg.pretrained)
    if path.is_file() or path.suffix or os.sep in cfg.pretrained:
        return load_fairseq2_checkpoint(cfg, path)
    ensure_fairseq2()
    if cfg.family == "w2vbert":
        from fairseq2.models.w2vbert import get_w2vbert_model_hub as get_hub
    else:
        from fairseq2.models.wav2vec2 import get_wav2vec2_model_hub as get_hub
    try:
        return get_hub().load_model(cfg.pretrained, device=torch.device("cpu"), dtype=torch.float32)
    except Exception as exc:
        raise DataError(
            f"cannot load fairseq2 asset '{cfg.pretrained}' ({type(exc).__name__}; offline?): "
            "set semantic.pretrained to a local checkpoint file"
        ) from None


def wav2vec2_part(model: torch.nn.Module) -> torch.nn.Module:
    """The Wav2Vec2Model inside `model` (w2v-BERT wraps one)."""
    return getattr(model, "w2v2_model", model)


def model_hop(cfg: SemanticConfig) -> int:
    """Input samples per encoder frame."""
    return W2VBERT_HOP if cfg.family == "w2vbert" else WAV2VEC2_HOP


def model_input(cfg: SemanticConfig, wav: torch.Tensor) -> torch.Tensor:
    """What the frontend eats: raw waveform [B,T] for wav2vec2, stacked-ready 80-bin fbank [B,F,80] for w2v-BERT."""
    if cfg.family != "w2vbert":
        return wav
    banks = []
    for x in wav:
        fb = kaldi.fbank(x.unsqueeze(0) * 32768.0, num_mel_bins=80, sample_frequency=cfg.sample_rate, dither=0.0)
        banks.append((fb - fb.mean(0)) / fb.std(0).clamp_min(1e-5))
    return torch.stack(banks)


@torch.no_grad()
def layer_features(model: torch.nn.Module, cfg: SemanticConfig, wav: torch.Tensor) -> torch.Tensor:
    """Output of encoder layer `cfg.layer` (1-based) for mono 16 kHz audio [B,T] -> [B,F,D]; stops after that layer."""
    ensure_fairseq2()
    from fairseq2.nn import BatchLayout

    w2v = wav2vec2_part(model)
    n_layers = len(w2v.encoder.layers)
    if not 1 <= cfg.layer <= n_layers:
        raise DataError(f"semantic.layer={cfg.layer} is outside 1..{n_layers} for this model")
    seqs = model_input(cfg, wav)
    captured: dict[str, torch.Tensor] = {}

    def hook(layer_idx: int, output: torch.Tensor, layout: Any, num_layers: int) -> bool:
        if layer_idx == cfg.layer - 1:
            captured["x"] = output
            return False
        return True

    handle = w2v.encoder.register_layer_hook(hook)
    try:
        feats, layout = w2v.encoder_frontend(seqs, BatchLayout.of(seqs))
        w2v.encoder(feats, layout)
    finally:
        handle.remove()
    return captured["x"]
