"""The one decoder-only transformer every stage uses: pre-norm, RoPE, SDPA attention and a KV cache."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .vocab import PAD


class RMSNorm(nn.Module):
    """Root-mean-square layer norm (no mean subtraction, learned gain)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise the last dimension in fp32 for stability under bf16."""
        y = x.float()
        y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.eps)
        return y.type_as(x) * self.weight


def rope_tables(head_dim: int, max_len: int, base: float, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables [max_len, head_dim/2] for rotary position embeddings."""
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(max_len, device=device, dtype=torch.float32), inv)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x[..., :d/2], x[..., d/2:]) of x[B,H,T,D] by the angles of their positions."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half].float(), x[..., half:].float()
    out = torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.type_as(x)


class KVCache:
    """Preallocated keys/values per layer for incremental decoding; `length` is the number of filled positions."""

    def __init__(self, n_layers: int, batch: int, n_heads: int, max_len: int, head_dim: int,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        shape = (batch, n_heads, max_len, head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layers)]
        self.max_len = max_len
        self.length = 0

    def update(self, layer: int, start: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k/v [B,H,T,D] at positions start.. and return all keys/values up to start+T."""
        end = start + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache overflow: need {end} positions, allocated {self.max_len}")
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def select(self, rows: torch.Tensor) -> None:
        """Keep only batch rows `rows` (e.g. to drop finished sequences)."""
        self.keys = [k[rows] for k in self.keys]
        self.values = [v[rows] for v in self.values]


class Attention(nn.Module):
    """Multi-head causal self-attention with rotary positions through F.scaled_dot_product_attention."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.d_model % cfg.n_heads:
            raise ValueError(f"d_model {cfg.d_model} is not divisible by n_heads {cfg.n_heads}")
        self.n_heads = cfg.n_heads
        self.head_dim = cfg.d_model // cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.dropout = cfg.dropout
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: KVCache | None, layer: int, start_pos: int) -> torch.Tensor:
        """x[B,T,C] at absolute positions start_pos..start_pos+T-1."""
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.update(layer, start_pos, k, v)
        drop = self.dropout if self.training else 0.0
        if k.shape[2] == t:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=t > 1, dropout_p=drop)
        elif t == 1:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        else:
            q_pos = torch.arange(start_pos, start_pos + t, device=x.device)[:, None]
            mask = torch.arange(k.shape[2], device=x.device)[None, :] <= q_pos
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        return self.resid_drop(self.proj(y.transpose(1, 2).reshape(b, t, c)))


class MLP(nn.Module):
    """Position-wise feed-forward block with GELU."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.up = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.down = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """down(gelu(up(x)))."""
        return self.drop(self.down(F.gelu(self.up(x))))


class Block(nn.Module):
    """Pre-norm residual block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.norm1 = RMSNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.norm2 = RMSNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: KVCache | None, layer: int, start_pos: int) -> torch.Tensor:
        """One residual block."""
        x = x + self.attn(self.norm1(x), cos, sin, cache, layer, start_pos)
        return x + self.mlp(self.norm2(x))


class Head(nn.Module):
    """Output projection whose forward can return logits for one slice of the vocabulary only."""

    def __init__(self, d_model: int, vocab_size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(vocab_size, d_model))

    def forward(self, x: torch.Tensor, vocab_range: tuple[int, int] | None = None) -> torch.Tensor:
        """x @ W[lo:hi].T (the whole vocabulary when vocab_range is None)."""
        w = self.weight if vocab_range is None else self.weight[vocab_range[0]:vocab_range[1]]
        return F.linear(x, w)


class Transformer(nn.Module):
    """Decoder-only LM over a stage's joint vocabulary; `forward(tokens, cache, start_pos) -> logits`.

    streams > 1 reads positions of several tokens ([B,T,streams], PAD = empty): a position's input is the sum of
    its non-PAD token embeddings. The parameters do not depend on streams; the layout picks the output heads as
    slices of the one output projection (`vocab_range`).
    """

    def __init__(self, cfg: ModelConfig, vocab_size: int, max_len: int = 4096, streams: int = 1) -> None:
        super().__init__()
        if streams < 1:
            raise ValueError(f"streams must be >= 1, got {streams}")
        self.cfg = cfg
        self.vocab_size = vocab_size
        self.streams = streams
        self.embed = nn.Embedding(vocab_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model)
        self.head = Head(cfg.d_model, vocab_size)
        if cfg.tie_weights:
            self.head.weight = self.embed.weight
        self._rope_len = 0
        self._cos = self._sin = torch.empty(0)
        self._ensure_rope(max_len, torch.device("cpu"))
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("down.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding, Head)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def _ensure_rope(self, length: int, device: torch.device) -> None:
        """Rotary tables are plain fp32 attributes (not buffers) so bf16 casts never coarsen them."""
        if length > self._rope_len or self._cos.device != device:
            n = max(length, self._rope_len)
            self._cos, self._sin = rope_tables(self.cfg.d_model // self.cfg.n_heads, n, self.cfg.rope_base, device)
            self._rope_len = n

    def new_cache(self, batch: int, max_len: int, device: torch.device | str | None = None,
                  dtype: torch.dtype | None = None) -> KVCache:
        """An empty KV cache sized for `batch` rows and `max_len` positions."""
        p = self.embed.weight
        return KVCache(self.cfg.n_layers, batch, self.cfg.n_heads, max_len, self.cfg.d_model // self.cfg.n_heads,
                       device or p.device, dtype or p.dtype)

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None, start_pos: int = 0,
                select: torch.Tensor | None = None, vocab_range: tuple[int, int] | None = None) -> torch.Tensor:
        """Logits [B,T,V] for tokens [B,T] ([B,T,streams] when streams > 1) at positions start_pos..; with a cache,
        earlier positions come from it.

        select (Bool[B,T], or Long[N] indices into the flattened B*T positions) keeps only those positions (-> [N,V]);
        vocab_range=(lo, hi) computes only ids lo..hi-1. Both skip output-projection work that a loss or a sampler would throw away.
        """
        t = tokens.shape[1]
        self._ensure_rope(start_pos + t, tokens.device)
        cos = self._cos[start_pos:start_pos + t]
        sin = self._sin[start_pos:start_pos + t]
        x = self.drop(self._embed_steps(tokens))
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, cache, i, start_pos)
        if cache is not None:
            cache.length = start_pos + t
        if select is not None:
            x = x[select] if select.dtype == torch.bool else x.flatten(0, 1).index_select(0, select)
        return self.head(self.norm(x), vocab_range)

    def _embed_steps(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.streams == 1:
            return self.embed(tokens)
        if tokens.dim() != 3 or tokens.shape[-1] != self.streams:
            raise ValueError(f"a {self.streams}-stream model reads tokens [B,T,{self.streams}], got {tuple(tokens.shape)}")
        return self.embed(tokens).masked_fill((tokens == PAD).unsqueeze(-1), 0.0).sum(2)

    def num_parameters(self) -> int:
        """Parameter count (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters())
