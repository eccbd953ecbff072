"""Benchmark of the stage transformers (tiny profile sizes): training throughput per stage, DeepSpeed engine
overhead against a plain PyTorch loop on the same model and batch, and KV-cache decoding against full recompute.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
import yaml

from stages.batches import lm_loss, sample_batch
from stages.config import ModelConfig, StageConfig, TrainConfig
from stages.layout_registry import make_layout
from stages.token_spec import TokenSpec
from stages.transformer import Transformer

TINY_YAML = Path(__file__).resolve().parents[2] / "conf" / "tiny.yaml"
# Token rates and vocabularies of the tiny profile's tokenizers (EnCodec 6 kbps, 25 Hz semantic, chroma melody).
TINY_TOKENS = TokenSpec(semantic_rate=25.0, semantic_bins=256, acoustic_rate=75.0, codec_bins=1024, n_q=8, n_coarse=4,
                        cond_levels=12, cond_bins=256, melody_rate=4.0, melody_bins=13, sample_rate=24000)


def tiny_stage_configs() -> dict[str, StageConfig]:
    """StageConfigs of conf/tiny.yaml (read as plain YAML: eval may not import pipeline)."""
    data = yaml.safe_load(TINY_YAML.read_text())["stages"]
    out = {}
    for name, section in data.items():
        section = dict(section)
        model = ModelConfig(**section.pop("model", {}))
        out[name] = StageConfig(model=model, **section)
    return out


def synthetic_records(n: int, seconds: float, tokens: TokenSpec, seed: int = 0) -> list[dict[str, Any]]:
    """Random token records with the contract's shapes (speed depends on shapes, not values)."""
    g = torch.Generator().manual_seed(seed)
    t_s, t_a, t_m = (tokens.seconds_to(seconds, which) for which in ("semantic", "acoustic", "melody"))
    return [{"id": str(i), "split": "train",
             "cond": torch.randint(0, tokens.cond_bins, (tokens.cond_levels,), generator=g),
             "semantic": torch.randint(0, tokens.semantic_bins, (t_s,), generator=g),
             "acoustic": torch.randint(0, tokens.codec_bins, (tokens.n_q, t_a), generator=g),
             "melody": torch.randint(0, tokens.melody_bins, (t_m,), generator=g)} for i in range(n)]


def training_rate(stage: str, cfg: StageConfig, steps: int) -> dict[str, float]:
    """Plain AdamW training steps on tiny-profile batches: all positions and target positions per second."""
    layout = make_layout(stage, TINY_TOKENS, cfg.crop_seconds)
    records = synthetic_records(8, max(10.0, cfg.crop_seconds), TINY_TOKENS)
    torch.manual_seed(0)
    model = Transformer(cfg.model, layout.vocab.size)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    batches = [sample_batch(layout, records, cfg.batch_size, gen, cfg.cond_drop_prob) for _ in range(steps + 1)]
    _train_step(model, opt, layout, *batches[0])
    start = time.perf_counter()
    for tokens, mask in batches[1:]:
        _train_step(model, opt, layout, tokens, mask)
    elapsed = time.perf_counter() - start
    positions = sum(t.shape[0] * (t.shape[1] - 1) for t, _ in batches[1:])
    targets = sum(int(m[:, 1:].sum()) for _, m in batches[1:])
    return {"tokens_per_s": round(positions / elapsed, 1), "target_tokens_per_s": round(targets / elapsed, 1),
            "seq_len": int(batches[1][0].shape[1]), "params_M": round(model.num_parameters() / 1e6, 2)}


def deepspeed_overhead(cfg: StageConfig, steps: int, rounds: int) -> dict[str, float]:
    """Seconds per step of a DeepSpeed engine (ZeRO-0, fp32, client AdamW, clipping) vs a plain loop doing the same
    work (clipping + AdamW + LambdaLR), on the same model and batch, measured in alternating rounds."""
    from stages.deepspeed_config import deepspeed_config, init_distributed, warmup_cosine

    init_distributed()
    import deepspeed

    train = TrainConfig(warmup_steps=1)
    layout = make_layout("coarse", TINY_TOKENS, cfg.crop_seconds)
    tokens, mask = sample_batch(layout, synthetic_records(4, 10.0, TINY_TOKENS), cfg.batch_size, torch.Generator().manual_seed(0))

    def build() -> tuple[Transformer, torch.optim.Optimizer, Any]:
        torch.manual_seed(0)
        model = Transformer(cfg.model, layout.vocab.size)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        return model, opt, torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(train, 1000))

    model, opt, sched = build()
    ds_model, ds_opt, ds_sched = build()
    import tempfile

    with tempfile.TemporaryDirectory() as logs:
        config = deepspeed_config(train, cfg.batch_size, 1, Path(logs), "bench")
        config["csv_monitor"]["enabled"] = config["tensorboard"]["enabled"] = False
        engine, _, _, _ = deepspeed.initialize(model=ds_model, optimizer=ds_opt, lr_scheduler=ds_sched, config=config)

        def plain_step() -> None:
            loss = lm_loss(model, tokens, mask, layout)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
            opt.step()
            sched.step()

        def ds_step() -> None:
            loss = lm_loss(engine, tokens, mask, layout)
            engine.backward(loss)
            engine.step()

        plain_step(), ds_step()
        plain_t = ds_t = 0.0
        for _ in range(rounds):
            plain_t += _timed(plain_step, steps)
            ds_t += _timed(ds_step, steps)
    n = steps * rounds
    return {"plain_s_per_step": round(plain_t / n, 4), "deepspeed_s_per_step": round(ds_t / n, 4),
            "deepspeed_overhead_pct": round(100.0 * (ds_t / plain_t - 1.0), 1)}


@torch.no_grad()
def kv_cache_speedup(cfg: ModelConfig, context: int, new_tokens: int) -> dict[str, float]:
    """Seconds per generated token after `context` tokens: KV-cache incremental decoding vs recomputing everything."""
    torch.manual_seed(0)
    vocab = 4096
    model = Transformer(cfg, vocab).eval()
    prefix = torch.randint(0, vocab, (1, context))

    def with_cache() -> None:
        cache = model.new_cache(1, context + new_tokens)
        logits = model(prefix, cache, 0)[:, -1]
        for i in range(new_tokens):
            nxt = logits.argmax(-1, keepdim=True)
            logits = model(nxt, cache, context + i)[:, -1]

    def recompute() -> None:
        seq = prefix
        for _ in range(new_tokens):
            nxt = model(seq)[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], 1)

    with_cache()
    cached = _timed(with_cache, 1)
    full = _timed(recompute, 1)
    return {"cache_s_per_token": round(cached / new_tokens, 5), "recompute_s_per_token": round(full / new_tokens, 5),
            "kv_cache_speedup_x": round(full / cached, 1)}


def bench_stages(quick: bool = False) -> dict[str, Any]:
    """Training tokens/s per tiny stage, DeepSpeed overhead vs plain PyTorch (target <= 10%), KV cache vs recompute at
    1k context (target >= 5x)."""
    cfgs = tiny_stage_configs()
    figures: dict[str, Any] = {}
    for stage in ("semantic", "coarse", "fine"):
        for key, value in training_rate(stage, cfgs[stage], steps=2 if quick else 4).items():
            figures[f"train_{stage}_{key}"] = value
    figures.update(deepspeed_overhead(cfgs["coarse"], steps=2, rounds=2 if quick else 4))
    figures.update(kv_cache_speedup(cfgs["semantic"].model, context=1024, new_tokens=16 if quick else 32))
    figures["kv_cache_context"] = 1024
    return figures


def _train_step(model: Transformer, opt: torch.optim.Optimizer, layout: Any, tokens: torch.Tensor,
                mask: torch.Tensor) -> None:
    loss = lm_loss(model, tokens, mask, layout)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _timed(fn: Any, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return time.perf_counter() - start
