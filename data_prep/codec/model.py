"""Builders for the two codec architectures, both from the `encodec` package's classes.

'official' is EncodecModel.encodec_model_24khz (causal, 32 levels up to 24 kbps);
'small' is a non-causal SEANet encoder/decoder + ResidualVectorQuantizer sized by CodecConfig.
"""
from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from .config import CodecConfig

OFFICIAL = "official"
SMALL = "small"
OFFICIAL_BANDWIDTHS = [1.5, 3.0, 6.0, 12.0, 24.0]


def bandwidth_per_level(sample_rate: int, ratios: list[int], bins: int) -> float:
    """kbps carried by one RVQ level: log2(bins) bits at the frame rate."""
    frame_rate = math.ceil(sample_rate / math.prod(ratios))
    return math.log2(bins) * frame_rate / 1000.0


def build_official(pretrained: bool = False) -> nn.Module:
    """The official EnCodec 24 kHz architecture (weights downloaded only when pretrained=True)."""
    from encodec import EncodecModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return EncodecModel.encodec_model_24khz(pretrained=pretrained)


def build_small(cfg: CodecConfig) -> nn.Module:
    """The small trainable EnCodec-architecture codec described by `cfg`, freshly initialised."""
    from encodec import EncodecModel
    from encodec.modules import SEANetDecoder, SEANetEncoder
    from encodec.quantization import ResidualVectorQuantizer

    common = dict(
        channels=1, dimension=cfg.dimension, n_filters=cfg.n_filters, ratios=list(cfg.ratios),
        norm="weight_norm", causal=cfg.causal, lstm=cfg.lstm,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        encoder = SEANetEncoder(**common)
        decoder = SEANetDecoder(**common)
    per_level = bandwidth_per_level(cfg.sample_rate, cfg.ratios, cfg.bins)
    n_q = max(1, int(round(cfg.max_bandwidth / per_level)))
    quantizer = ResidualVectorQuantizer(
        dimension=cfg.dimension, n_q=n_q, bins=cfg.bins, kmeans_init=True, threshold_ema_dead_code=0
    )
    bandwidths = [b for b in OFFICIAL_BANDWIDTHS if b <= cfg.max_bandwidth + 1e-9] or [cfg.max_bandwidth]
    model = EncodecModel(encoder, decoder, quantizer, bandwidths, cfg.sample_rate, 1, normalize=False, name="strata_small")
    init_weights_(model, cfg.train.last_layer_scale)
    return model.eval()


def _fan_in(module: nn.Module, weight: torch.Tensor) -> int:
    if isinstance(module, nn.ConvTranspose1d):
        return max(1, weight.shape[0] * weight.shape[2] // max(1, module.stride[0]))
    return max(1, weight[0].numel())


def _set_conv_weight(module: nn.Module, weight: torch.Tensor) -> None:
    """Write `weight` into a (possibly weight-normed) conv so that its effective weight equals `weight`."""
    if hasattr(module, "weight_v"):
        dims = [d for d in range(weight.dim()) if d != 0]
        module.weight_v.data.copy_(weight)
        module.weight_g.data.copy_(weight.norm(dim=dims, keepdim=True))
    else:
        module.weight.data.copy_(weight)


@torch.no_grad()
def init_weights_(model: nn.Module, last_layer_scale: float = 0.1) -> None:
    """Fan-in scaled normal init with zero biases, and a small last decoder layer (training fix 2 in this package's README).

    PyTorch's default init shrinks the signal layer by layer, so the encoder output barely depends on the input.
    """
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d))]
    for conv in convs:
        shape = conv.weight_v.shape if hasattr(conv, "weight_v") else conv.weight.shape
        weight = torch.randn(shape) / math.sqrt(_fan_in(conv, torch.empty(shape)))
        _set_conv_weight(conv, weight)
        if conv.bias is not None:
            conv.bias.zero_()
    for lstm in (m for m in model.modules() if isinstance(m, nn.LSTM)):
        for name, param in lstm.named_parameters():
            if name.startswith("weight"):
                param.normal_(0.0, 1.0 / math.sqrt(param.shape[1]))
            else:
                param.zero_()
    decoder_convs = [m for m in model.decoder.modules() if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d))]
    if decoder_convs:
        last = decoder_convs[-1]
        current = last.weight_v.data.clone() if hasattr(last, "weight_v") else last.weight.data.clone()
        _set_conv_weight(last, current * last_layer_scale)
