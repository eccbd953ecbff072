"""Planted memorization: a semantic stage overfit on a few duplicated examples is caught by the audit, held-out ones are not.

The stage is built and trained in-process with the stages helper's public API (tiny transformer, plain torch loop).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from data_prep.cache import write_cache
from data_prep.semantic.config import KMeansConfig
from data_prep.semantic.kmeans import save_kmeans
from pipeline.audit import run_audit, semantic_decode_fn
from pipeline.cli import main
from pipeline.profile import AuditConfig, load_profile
from pipeline.run_dir import RunDir
from stages.batches import collate, lm_loss
from stages.config import ModelConfig
from stages.layout_registry import make_layout
from stages.stage import Stage
from stages.token_spec import TokenSpec

RATE = 10.0
SECONDS = 4.0
BINS = 16
TOKENS = TokenSpec(semantic_rate=RATE, semantic_bins=BINS, acoustic_rate=5.0, codec_bins=8, n_q=2, n_coarse=1,
                   cond_levels=2, cond_bins=8, sample_rate=8000)
N_MEMORIZED = 5
N_HELD_OUT = 5


def _records() -> list[dict]:
    gen = torch.Generator().manual_seed(0)
    conds = torch.randperm(64, generator=gen)[: N_MEMORIZED + N_HELD_OUT]
    out = []
    for k, code in enumerate(conds.tolist()):
        out.append({
            "id": f"{'mem' if k < N_MEMORIZED else 'new'}{k}",
            "split": "train" if k < N_MEMORIZED else "test",
            "cond": torch.tensor([code // 8, code % 8]),
            "semantic": torch.randint(0, BINS, (int(SECONDS * RATE),), generator=gen),
            "acoustic": torch.randint(0, 8, (2, int(SECONDS * 5.0)), generator=gen),
            "seconds": SECONDS,
        })
    return out


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models run fastest single-threaded on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, _one_thread: None) -> tuple[RunDir, Stage, list[dict]]:
    """A run whose semantic stage has memorized the 'train' records (each duplicated in every batch)."""
    torch.manual_seed(0)
    records = _records()
    layout = make_layout("semantic", TOKENS, SECONDS)
    stage = Stage.build(ModelConfig(n_layers=2, n_heads=4, d_model=64, d_ff=128, dropout=0.0), layout)
    memorized = [r for r in records if r["split"] == "train"]
    tokens, mask = collate([layout.example(r) for r in memorized] * 2)
    opt = torch.optim.AdamW(stage.model.parameters(), lr=3e-3, weight_decay=0.0)
    stage.model.train()
    for _ in range(150):
        loss = lm_loss(stage.model, tokens, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
    stage.model.eval()
    assert float(loss.detach()) < 0.05

    root = tmp_path_factory.mktemp("planted") / "run"
    run = RunDir(root)
    run.create(load_profile("tiny"))
    stage.save(run.stage_model("semantic"))
    centroids = torch.randn(BINS, 6, generator=torch.Generator().manual_seed(1))
    save_kmeans(run.tokenizer("kmeans"), centroids, KMeansConfig(clusters=BINS), 0.0, "test")
    by_id = {r["id"]: r for r in records}
    write_cache([{"id": r["id"], "split": r["split"]} for r in records], lambda rec: by_id[rec["id"]], run.cache_dir,
                shard_size=4, meta=TOKENS.as_meta())
    return run, stage, records


def test_memorized_examples_are_exact_matches_and_held_out_are_not(planted):
    run, stage, records = planted
    centroids = torch.load(run.tokenizer("kmeans"), weights_only=True)["centroids"]
    config = AuditConfig(split="all", num_examples=len(records), prompt_seconds=[0.0, 1.0],
                           continuation_seconds=2.0, max_fpr=1e-2)
    result = run_audit(records, centroids, semantic_decode_fn(stage), TOKENS, config)
    exact = {(c["example_id"], c["prompt_seconds"]) for c in result.candidate_costs if c["exact"]}
    expected = {(r["id"], t) for r in records if r["split"] == "train" for t in (0.0, 1.0)}
    assert exact == expected
    for row in result.per_prompt:
        assert row["exact_matches"] == N_MEMORIZED and row["n"] == N_MEMORIZED + N_HELD_OUT
    approx = {c["example_id"] for c in result.candidate_costs if c["approximate"]}
    assert {r["id"] for r in records if r["split"] == "train"} <= approx


def test_strata_audit_cli_writes_the_report(planted, capsys):
    run, _, _ = planted
    code = main(["--quiet", "audit", "--run", str(run.root), "--prompt-seconds", "0,1,2.5", "--continuation-seconds", "2",
                 "--max-fpr", "1e-4"])
    assert code == 0, capsys.readouterr().err
    out_dir = run.reports_dir / "audit"
    for name in ("report.json", "report.md", "match_rates.png", "cost_histogram.png", "closest_matches.png"):
        assert (out_dir / name).is_file() and (out_dir / name).stat().st_size > 0
    report = json.loads((out_dir / "report.json").read_text())
    assert [r["exact_rate"] for r in report["per_prompt"]] == [1.0, 1.0]
    assert report["per_prompt"][0]["prompt_seconds"] == 0.0
    assert any("shorter than" in n for n in report["notes"])
    assert not report["calibration"]["resolvable"] and "too few negatives" in report["calibration"]["note"]
    assert "too few negatives" in (out_dir / "report.md").read_text()
    assert "exact 5/5" in capsys.readouterr().out

    assert main(["--quiet", "audit", "--run", str(run.root), "--split", "test", "--prompt-seconds", "1",
                 "--continuation-seconds", "2"]) == 0
    report = json.loads((out_dir / "report.json").read_text())
    assert report["per_prompt"][0]["exact_matches"] == 0 and report["per_prompt"][0]["n"] == N_HELD_OUT


@pytest.mark.parametrize(("argv", "needle"), [
    (["--prompt-seconds", "a,b"], "--prompt-seconds must be comma-separated"),
    (["--max-fpr", "2"], "--max-fpr must be between 0 and 1"),
    (["--continuation-seconds", "0"], "--continuation-seconds must be > 0"),
    (["--split", "nope"], "no token records in split 'nope'"),
    (["--prompt-seconds", "9"], "every example is shorter"),
])
def test_audit_cli_user_errors(planted, capsys, argv, needle):
    run, _, _ = planted
    assert main(["audit", "--run", str(run.root)] + argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err


def test_flags_override_only_their_own_fields_of_the_profile():
    import argparse

    from pipeline.commands.audit import add_arguments, config_from_flags

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = AuditConfig(split="test", max_fpr=1e-3, seed=5, sinkhorn_iters=50, prompt_seconds=[0.0, 3.0])
    same = config_from_flags(base, parser.parse_args(["--run", "r"]))
    assert same == base
    changed = config_from_flags(base, parser.parse_args(["--run", "r", "--max-fpr", "0.01", "--prompt-seconds", "1,2",
                                                         "--seed", "0", "--split", "train"]))
    assert (changed.max_fpr, changed.prompt_seconds, changed.seed, changed.split) == (0.01, [1.0, 2.0], 0, "train")
    assert changed.sinkhorn_iters == 50 and base.max_fpr == 1e-3


def test_profile_overrides_reach_the_audit(planted, capsys):
    run, _, _ = planted
    out = run.root / "audit_override"
    assert main(["--quiet", "audit", "--run", str(run.root), "audit.split=test", "audit.prompt_seconds=1",
                 "audit.continuation_seconds=2", "--out", str(out)]) == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["split"] == "test" and report["settings"]["prompt_seconds"] == [1.0]
    assert report["per_prompt"][0]["n"] == N_HELD_OUT


def test_missing_stage_is_a_user_error(tmp_path, capsys):
    run = RunDir(tmp_path / "bare")
    run.create(load_profile("tiny"))
    assert main(["audit", "--run", str(run.root)]) == 2
    assert "strata train" in capsys.readouterr().err


def test_novelty_check_embeds_generations_against_training_clips(tmp_path):
    from data_prep.manifest import write_manifest
    from pipeline.audit import novelty_check
    from pipeline.orchestrator import Strata

    from .tiny_run import build_tiny_run

    run = build_tiny_run(tmp_path / "tiny")
    write_manifest(run.manifest_path, [
        {"id": f"c{i}", "path": f"audio/c{i}.wav", "seconds": 1.0, "sample_rate": 24000, "split": "train",
         "caption": caption} for i, caption in enumerate(["calm piano", "fast fiddle reel", "slow organ chorale"])])
    strata = Strata.from_run(run)
    config = AuditConfig(novelty_samples=2, novelty_seconds=0.2, seed=1)
    dim = strata.condition.embed_text(["x"]).shape[1]
    training = [{"id": f"t{i}", "clap": torch.randn(dim)} for i in range(2)]
    result = novelty_check(run, training, config)
    assert result["n_generated"] == 2 and result["n_training"] == 2 and len(result["prompts"]) == 2
    assert set(result["prompts"]) <= {"calm piano", "fast fiddle reel", "slow organ chorale"}
    assert 0.0 <= result["fraction_above"] <= 1.0 and -1.0 <= result["mean_nn_cosine"] <= 1.0
    assert "skipped" in novelty_check(run, [{"id": "x"}], config)
