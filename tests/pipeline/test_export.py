"""Shipped-weight export: fp16 state dicts that load back, checksums verified at load."""
import pytest
import torch

from pipeline.checksums import verify_run, write_checksums
from pipeline.errors import UserError
from pipeline.export import halve_state_dicts
from stages.config import ModelConfig
from stages.layout_registry import make_layout
from stages.token_spec import TokenSpec
from stages.stage import Stage

TOKENS = TokenSpec(semantic_rate=25.0, semantic_bins=16, acoustic_rate=75.0, codec_bins=32, n_q=4, n_coarse=2,
                   cond_levels=3, cond_bins=8)


def test_halving_touches_only_state_dicts_and_round_trips(tmp_path):
    stage = Stage.build(ModelConfig(n_layers=1, n_heads=2, d_model=16, d_ff=32, dropout=0.0), make_layout("coarse", TOKENS, 1.0))
    blob = {**stage.to_dict(), "centroids": torch.randn(4, 3)}
    half = halve_state_dicts(blob)
    assert all(v.dtype == torch.float16 for v in half["state_dict"].values() if v.is_floating_point())
    assert half["centroids"].dtype == torch.float32
    torch.save(half, tmp_path / "model.pt")
    loaded = Stage.load(tmp_path / "model.pt")
    x = torch.randint(0, loaded.layout.vocab.size, (1, 12))
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), stage.model.eval()(x), atol=2e-2)
    assert next(loaded.model.parameters()).dtype == torch.float32


def test_tied_weights_stay_shared_after_halving():
    w = torch.randn(8, 4)
    half = halve_state_dicts({"state_dict": {"embed.weight": w, "head.weight": w}})
    assert half["state_dict"]["embed.weight"] is half["state_dict"]["head.weight"]


def test_codebooks_stay_fp32():
    half = halve_state_dicts({"state_dict": {"quantizer.vq.layers.0._codebook.embed": torch.randn(4, 2), "conv.weight": torch.randn(2)}})
    assert half["state_dict"]["quantizer.vq.layers.0._codebook.embed"].dtype == torch.float32
    assert half["state_dict"]["conv.weight"].dtype == torch.float16


def test_checksums_detect_modified_and_missing_files(tmp_path):
    files = []
    for name in ("a.pt", "sub/b.pt"):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(name.encode() * 10)
        files.append(path)
    write_checksums(tmp_path, files)
    verify_run(tmp_path)
    files[1].write_bytes(b"tampered")
    with pytest.raises(UserError, match="checksum mismatch for .*b.pt"):
        verify_run(tmp_path)
    files[1].unlink()
    with pytest.raises(UserError, match="missing"):
        verify_run(tmp_path)


def test_a_run_without_checksums_is_not_checked(tmp_path):
    verify_run(tmp_path)


def test_stage_file_stores_tied_embeddings_once(tmp_path):
    cfg = ModelConfig(n_layers=1, n_heads=2, d_model=16, d_ff=32, dropout=0.0)
    stage = Stage.build(cfg, make_layout("coarse", TOKENS, 1.0))
    data = stage.to_dict()
    assert data["state_dict"]["embed.weight"] is data["state_dict"]["head.weight"]


def test_export_run_writes_halved_weights_audit_examples_and_checksums(tmp_path):
    from data_prep.cache import TokenCache, write_cache
    from pipeline.export import export_run
    from pipeline.orchestrator import Strata

    from .tiny_run import build_tiny_run

    run = build_tiny_run(tmp_path / "src")
    spec = Stage.load(run.stage_model("semantic")).layout.token_spec
    g = torch.Generator().manual_seed(0)
    records = [{"id": f"c{i}", "split": "train" if i < 3 else "test", "seconds": 1.0,
                "cond": torch.randint(0, spec.cond_bins, (spec.cond_levels,), generator=g),
                "semantic": torch.randint(0, spec.semantic_bins, (25,), generator=g),
                "acoustic": torch.randint(0, spec.codec_bins, (spec.n_q, 75), generator=g)} for i in range(4)]
    write_cache(records, lambda r: r, run.cache_dir, shard_size=2, meta=spec.as_meta())
    sizes = export_run(run, tmp_path / "shipped", audit_examples=2)
    assert "checksums.json" not in sizes and "stages/fine/model.pt" in sizes and "tokenizers/codec.pt" in sizes
    shipped = TokenCache(tmp_path / "shipped" / "cache").records()
    assert [r["id"] for r in shipped] == ["c0", "c1"]
    strata = Strata.from_run(str(tmp_path / "shipped"))
    assert strata.generate("x", 0.2, seed=0).audio.shape[1] == int(0.2 * strata.sample_rate)
    (tmp_path / "shipped" / "tokenizers" / "codec.pt").write_bytes(b"corrupt")
    with pytest.raises(UserError, match="checksum mismatch"):
        Strata.from_run(str(tmp_path / "shipped"))
