"""`bench device` at tiny sizes on CPU: the report's fields, exact fp32 resume, cached = recomputed sampling, and
the host-indexed loss path the GPU step uses."""
import json
from dataclasses import replace

import pytest
import torch

from eval import bench_device
from eval.device_train import train_flops
from stages.batches import lm_loss
from stages.layouts import make_layout
from stages.transformer import Transformer


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench_device.json"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert bench_device.main(["--size", "tiny", "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(before)
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
    layout = make_layout("coarse", bench.meta, bench.crops["coarse"])
    assert layout.vocab.size == 3 + 12 * 1024 + 1024 + 4 * 1024
    cfg = bench.models["coarse"]
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_ff) == (24, 1024, 16, 4096)
    assert bench.train.precision == "bf16" and bench.train.zero_stage == 2
    dense = 6 * 24 * (4 * 1024**2 + 2 * 1024 * 4096) * 8 * 3262
    flops = train_flops(cfg, 4096, 8, 3262, 8 * 3000)
    assert flops == dense + 6 * 1024 * 4096 * 8 * 3000 + 6 * 24 * 1024 * 3262 * 8 * 3262


def test_host_indexed_loss_equals_boolean_selected_loss(one_thread):
    tiny = bench_device.tiny_bench()
    layout = make_layout("coarse", tiny.meta, 0.4)
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
