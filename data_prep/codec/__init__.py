"""Acoustic tokens: EnCodec (official 24 kHz or a small trainable variant) as a batched, chunked tokenizer."""
from .config import CodecConfig, CodecTrainConfig
from .tokenizer import CodecTokenizer

__all__ = ["CodecConfig", "CodecTrainConfig", "CodecTokenizer"]
