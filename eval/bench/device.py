"""`bench device`: paper-scale stage training and generation on one GPU (or tiny sizes on CPU), as one JSON.

Parts: train (DeepSpeed throughput, MFU, peak memory), resume (a restarted engine's next losses against the
uninterrupted run's), generate (KV-cached steps/s per stage and the real-time factor with CFG), cache (cached
against recomputed greedy tokens) and two_rank (replicas' losses on 2 GPUs). Each part's result, or its error, is
written to the JSON as soon as it ends, so a run stopped by a time limit keeps what it measured.

Imports torch, deepspeed, yaml and stages only, so `python -m eval.bench.device` runs on a machine that has
none of the data-preparation packages.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import yaml

from stages.config import ModelConfig, TrainConfig
from stages.layout_registry import make_layout
from stages.stage import Stage
from stages.token_spec import TokenSpec

from .device_generate import cached_vs_recomputed, coarse_prefix, generation_bench
from .device_train import resume_check, train_throughput, two_rank_check, two_rank_worker

BASE_YAML = Path(__file__).resolve().parents[2] / "conf" / "base.yaml"
PARTS = ("train", "resume", "generate", "cache", "two_rank")
# EnCodec 24 kHz runs at 75 frames/s with 2 RVQ levels per 1.5 kbps; the learned melody tokenizer emits
# rvq_levels tokens per window of window_seconds (24 per 4 s) from a 512-entry codebook.
ENCODEC_RATE, LEVELS_PER_KBPS = 75.0, 4 / 3
LEARNED_MELODY_RATE, LEARNED_MELODY_BINS = 6.0, 512


@dataclass
class DeviceBench:
    """Sizes and budgets of one `bench device` run."""

    size: str
    models: dict[str, ModelConfig]
    crops: dict[str, float]
    tokens: TokenSpec
    train: TrainConfig
    batch: int
    steps: int = 50
    warmup: int = 5
    log_every: int = 10
    resume_at: int = 3
    gen_seconds: float = 10.0
    gen_batches: list[int] = field(default_factory=lambda: [1, 8])
    cfg_scale: float = 3.0
    cache_tokens: int = 12
    two_rank_steps: int = 3


def base_bench(path: Path = BASE_YAML) -> DeviceBench:
    """Paper scale from conf/base.yaml: its stage models and crops, ZeRO stage, precision and coarse batch; the token
    cache's rates and vocabularies follow from its codec, semantic, conditioning and melody sections."""
    conf = yaml.safe_load(path.read_text())
    stages = conf["stages"]
    sem = conf["semantic"]
    tokens = TokenSpec(semantic_rate=50.0 / float(sem.get("pool", 1)), semantic_bins=int(sem["kmeans"]["clusters"]),
                       acoustic_rate=ENCODEC_RATE, codec_bins=1024,
                       n_q=int(round(float(conf["codec"]["bandwidth"]) * LEVELS_PER_KBPS)),
                       n_coarse=int(conf["codec"]["n_coarse"]), cond_levels=int(conf["rvq"]["levels"]),
                       cond_bins=int(conf["rvq"]["bins"]), melody_rate=LEARNED_MELODY_RATE,
                       melody_bins=LEARNED_MELODY_BINS, sample_rate=int(conf["data"]["sample_rate"]))
    train = conf["train"]
    return DeviceBench(
        size="base", models={k: ModelConfig(**v["model"]) for k, v in stages.items()},
        crops={k: float(v["crop_seconds"]) for k, v in stages.items()}, tokens=tokens,
        train=TrainConfig(zero_stage=int(train["zero_stage"]), precision=train["precision"], log_every=10),
        batch=int(stages["coarse"]["batch_size"]))


def tiny_bench() -> DeviceBench:
    """A two-layer model on a small token cache: every part in seconds on one CPU core (fp32, ZeRO-2)."""
    model = ModelConfig(n_layers=2, n_heads=2, d_model=32, d_ff=64, dropout=0.1)
    tokens = TokenSpec(semantic_rate=25.0, semantic_bins=16, acoustic_rate=75.0, codec_bins=8, n_q=4, n_coarse=2,
                       cond_levels=3, cond_bins=5, melody_rate=5.0, melody_bins=12, sample_rate=24000)
    return DeviceBench(size="tiny", models={k: model for k in ("semantic", "coarse", "fine")},
                       crops={"semantic": 1.0, "coarse": 0.4, "fine": 0.2}, tokens=tokens,
                       train=TrainConfig(zero_stage=2, precision="fp32", lr=1e-3, warmup_steps=1),
                       batch=2, steps=6, warmup=1, log_every=3, resume_at=2, gen_seconds=1.0, gen_batches=[1, 2],
                       cache_tokens=8, two_rank_steps=2)


def _device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")


def _gen_stages(bench: DeviceBench) -> dict[str, Stage]:
    """Randomly initialised stages on the device (bf16 on CUDA): generation speed depends on shapes only."""
    device = _device()
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    out = {}
    for i, name in enumerate(("semantic", "coarse", "fine")):
        torch.manual_seed(i)
        stage = Stage.build(bench.models[name], make_layout(name, bench.tokens, bench.crops[name]))
        stage.model.to(device=device, dtype=dtype).eval()
        out[name] = stage
    return out


def _machine() -> dict[str, Any]:
    import deepspeed

    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "torch": torch.__version__, "deepspeed": deepspeed.__version__,
                            "cuda": torch.version.cuda, "gpus": torch.cuda.device_count()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write through a temporary sibling and a rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def run_parts(bench: DeviceBench, parts: Sequence[str], out: Path | None, compile_model: bool = False,
              peak_tflops: float | None = None, budget_s: float = 120.0) -> dict[str, Any]:
    """Run the named parts in order, writing the report to `out` after each; returns the report."""
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    coarse = make_layout("coarse", bench.tokens, bench.crops["coarse"])
    report: dict[str, Any] = {"size": bench.size, "machine": _machine(), "config": {
        "coarse_model": asdict(bench.models["coarse"]), "batch": bench.batch, "train": asdict(bench.train),
        "coarse_crop_seconds": bench.crops["coarse"], "meta": bench.tokens.as_meta()}, "wall_s": {}}
    gen: dict[str, Stage] = {}

    def gen_stages() -> dict[str, Stage]:
        if not gen:
            gen.update(_gen_stages(bench))
        return gen

    jobs: dict[str, Callable[[], dict[str, Any]]] = {
        "train": lambda: train_throughput(bench.models["coarse"], coarse, bench.train, bench.batch,
                                          bench.steps, bench.warmup, bench.log_every, budget_s, peak_tflops,
                                          compile_model),
        "resume": lambda: resume_check(bench.models["coarse"], coarse, bench.train, bench.batch,
                                       bench.resume_at),
        "generate": lambda: generation_bench(gen_stages(), bench.gen_seconds,
                                             bench.gen_batches, bench.cfg_scale),
        "cache": lambda: cached_vs_recomputed(gen_stages()["coarse"],
                                              coarse_prefix(coarse, 2, 5), bench.cache_tokens),
        "two_rank": lambda: two_rank_check(bench.size, bench.two_rank_steps, budget_s),
    }
    for part in parts:
        start = time.perf_counter()
        try:
            report[part] = jobs[part]()
        except Exception as exc:  # noqa: BLE001 - one part's failure is recorded and the next part still runs
            report[part] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
        report["wall_s"][part] = round(time.perf_counter() - start, 3)
        print(f"{part}: {json.dumps(_summary(part, report[part]))}", flush=True)
        if out is not None:
            _write_json(out, report)
    return report


def _summary(part: str, result: dict[str, Any]) -> dict[str, Any]:
    """The few figures of a part worth a line on the console."""
    if "error" in result or "skipped" in result:
        return {k: v for k, v in result.items() if k != "traceback"}
    keys = {"train": ("tokens_per_s", "mfu", "step_ms", "peak_memory_gib", "steps_timed"),
            "resume": ("passed", "exact", "max_abs_diff"), "cache": ("identical", "agreement"), "two_rank": ("equal",)}
    if part == "generate":
        return {f"batch{r['batch']}": {"rtf": r["rtf"], **{s: v["steps_per_s"] for s, v in r["stages"].items()}}
                for r in result["runs"]}
    return {k: result.get(k) for k in keys[part]}


def bench_device(quick: bool = False) -> dict[str, Any]:
    """`strata bench device`: base sizes on a GPU, tiny sizes on CPU or with quick."""
    bench = tiny_bench() if quick or not torch.cuda.is_available() else base_bench()
    return run_parts(bench, PARTS, None)


def main(argv: Sequence[str] | None = None) -> int:
    """python -m eval.bench.device [--size base|tiny] [--out FILE] [--parts ...] [--compile] [--peak-tflops X]."""
    p = argparse.ArgumentParser(prog="python -m eval.bench.device", description=__doc__.split("\n")[0])
    p.add_argument("--size", choices=("base", "tiny"), default=None,
                   help="base (conf/base.yaml) on a GPU, tiny elsewhere (default: base when CUDA is available)")
    p.add_argument("--out", type=Path, default=Path("bench_device.json"), help="JSON report path")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="parts to run, in order")
    p.add_argument("--train-steps", type=int, default=None, help="timed training steps (default: 50 base, 6 tiny)")
    p.add_argument("--gen-seconds", type=float, default=None, help="audio seconds per generated clip")
    p.add_argument("--compile", action="store_true", help="torch.compile the transformer blocks for the train part")
    p.add_argument("--peak-tflops", type=float, default=None, help="bf16 peak for MFU (default: table by GPU name)")
    p.add_argument("--budget-s", type=float, default=120.0, help="time limit of the timed training loop")
    p.add_argument("--two-rank-worker", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--local_rank", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    size = args.size or ("base" if torch.cuda.is_available() else "tiny")
    bench = base_bench() if size == "base" else tiny_bench()
    if args.train_steps is not None:
        bench = replace(bench, steps=args.train_steps, two_rank_steps=args.train_steps)
    if args.gen_seconds is not None:
        bench = replace(bench, gen_seconds=args.gen_seconds)
    if args.two_rank_worker is not None:
        coarse = make_layout("coarse", bench.tokens, bench.crops["coarse"])
        two_rank_worker(bench.models["coarse"], coarse, bench.train, bench.batch, bench.two_rank_steps,
                        args.two_rank_worker)
        return 0
    report = run_parts(bench, args.parts, args.out, args.compile, args.peak_tflops, args.budget_s)
    print(f"wrote {args.out}")
    return 1 if any("error" in report[p] for p in args.parts) else 0


if __name__ == "__main__":
    raise SystemExit(main())
