"""`bench device` at tiny sizes on CPU: the report's fields, exact fp32 resume, cached = recomputed sampling, and
the host-indexed loss path the GPU step uses. The bench runs with the data-preparation packages unimportable, as
on the GPU machine."""
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from eval.bench import device as bench_device
from eval.bench.device_train import train_flops
from stages.batches import lm_loss
from stages.layout_registry import make_layout
from stages.transformer import Transformer

REPO = Path(__file__).resolve().parents[3]


# What the GPU machine lacks (or the bench must not need): importing any of them fails inside the bench's process.
BLOCKED = ("data_prep", "pipeline", "encodec", "laion_clap", "faiss", "fairseq2", "music21", "librosa", "soundfile",
           "scipy", "sklearn", "transformers", "torchaudio", "torchvision", "matplotlib", "ot", "pesto")
RUN_BLOCKED = """
import sys
from importlib.machinery import ModuleSpec
blocked = set(sys.argv[1].split(","))
class Block:
    # Found (torch probes specs without importing) but never loaded.
    def find_spec(self, name, path=None, target=None):
        return ModuleSpec(name, self) if name.split(".")[0] in blocked else None
    def create_module(self, spec):
        raise ImportError(f"blocked import: {spec.name}")
    def exec_module(self, module):
        raise ImportError(f"blocked import: {module.__name__}")
sys.meta_path.insert(0, Block())
from eval.bench.device import main
code = main(["--size", "tiny", "--out", sys.argv[2]])
print("TOP", sorted({m.split(".")[0] for m in sys.modules}))
raise SystemExit(code)
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The tiny bench run in a process where the data-preparation stack and the pipeline cannot be imported."""
    out = tmp_path_factory.mktemp("bench") / "bench_device.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", RUN_BLOCKED, ",".join(BLOCKED), str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    imported = set(proc.stdout.split("TOP")[-1].strip(" []\n").replace("'", "").split(", "))
    assert {"torch", "deepspeed", "stages", "eval"} <= imported and not imported & set(BLOCKED)
    return json.loads(out.read_text())


def test_report_holds_every_part_with_its_figures(report):
    assert report["size"] == "tiny" and set(bench_device.PARTS) <= set(report)
    train = report["train"]
    assert train["steps_timed"] == 6 and not train["stopped_by_budget"]
    assert train["tokens_per_s"] > 0 and train["target_tokens_per_s"] < train["tokens_per_s"]
    assert train["mfu"] is None and train["peak_memory_gib"] is None  # no known peak or GPU memory on CPU
    assert [e["step"] for e in train["losses"]] == [3, 6] and all(e["loss"] > 0 for e in train["losses"])
    for run, batch in zip(report["generate"]["runs"], [1, 2]):
        assert run["batch"] == batch and run["audio_seconds"] == 1.0 and run["rtf"] > 0
        assert set(run["stages"]) == {"semantic", "coarse", "fine"}
        assert run["stages"]["coarse"]["steps"] == 75 * 2  # 1 s at 75 Hz, 2 coarse levels
    assert "skipped" in report["two_rank"]


def test_fp32_resume_reproduces_the_uninterrupted_losses_exactly(report):
    resume = report["resume"]
    assert resume["precision"] == "fp32" and resume["zero_stage"] == 2
    assert resume["exact"] and resume["passed"] and resume["max_abs_diff"] == 0.0
    assert resume["uninterrupted_losses"][0] != resume["uninterrupted_losses"][1]


def test_cached_sampling_picks_the_recomputed_tokens(report):
    assert report["cache"]["identical"] and report["cache"]["tokens"] == 8


def test_mfu_flop_count_of_the_base_coarse_stage():
    bench = bench_device.base_bench()
    layout = make_layout("coarse", bench.tokens, bench.crops["coarse"])
    assert layout.vocab.size == 3 + 12 * 1024 + 1024 + 4 * 1024
    cfg = bench.models["coarse"]
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_ff) == (24, 1024, 16, 4096)
    assert bench.train.precision == "bf16" and bench.train.zero_stage == 2
    dense = 6 * 24 * (4 * 1024**2 + 2 * 1024 * 4096) * 8 * 3262
    flops = train_flops(cfg, 4096, 8, 3262, 8 * 3000)
    assert flops == dense + 6 * 1024 * 4096 * 8 * 3000 + 6 * 24 * 1024 * 3262 * 8 * 3262


def test_host_indexed_loss_equals_boolean_selected_loss(one_thread):
    tiny = bench_device.tiny_bench()
    layout = make_layout("coarse", tiny.tokens, 0.4)
    torch.manual_seed(0)
    model = Transformer(replace(tiny.models["coarse"], dropout=0.0), layout.vocab.size).eval()
    lo = layout.vocab.span("coarse", 0)[0]
    tokens = lo + torch.randint(0, 2 * 8, (3, 20))  # coarse ids of both levels (2 levels x 8 bins)
    mask = torch.zeros(3, 20, dtype=torch.bool)
    mask[:, 9:] = True
    mask[1, 15:] = False
    with torch.no_grad():
        indexed = model(tokens, select=mask.reshape(-1).nonzero().squeeze(1))
        selected = model(tokens, select=mask)
        assert torch.equal(indexed, selected)
        loss = lm_loss(model, tokens, mask, layout)
        logits = model(tokens[:, :-1], select=mask[:, 1:])[:, lo:lo + 2 * 8].reshape(-1, 2, 8)
        rel = tokens[:, 1:][mask[:, 1:]] - lo
        ref = torch.nn.functional.cross_entropy(logits[torch.arange(rel.shape[0]), rel // 8], rel % 8)
    assert torch.allclose(loss, ref, atol=1e-6)
