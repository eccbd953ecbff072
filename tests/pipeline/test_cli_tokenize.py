"""CLI: `strata train kmeans`, `strata tokenize` (resumable cache) and `strata eval semantic` on a tiny run."""
import json

import torch

from data_prep.audio_io import save_wav
from data_prep.cache import TokenCache
from pipeline.cli import main
from pipeline.profile import load_profile
from pipeline.run_dir import RunDir

SR = 24000
OVERRIDES = [
    "codec.n_filters=2", "codec.dimension=16", "codec.bins=32", "codec.bandwidth=3.0", "codec.n_coarse=2",
    "clap.embed_dim=16", "clap.audio_width=16", "clap.text_width=16", "clap.text_layers=1", "clap.text_heads=2",
    "clap.n_mels=16", "rvq.levels=3", "rvq.bins=8", "semantic.source=mel", "semantic.kmeans.clusters=8",
    "semantic.kmeans.iters=5", "melody.kind=none", "cache.shard_size=2",
]


def make_run(root) -> RunDir:
    """A run with 5 one-second tone clips (melody + family labelled) and a tiny random codec and CLAP."""
    from data_prep.clap import ConditionTokenizer
    from data_prep.codec import CodecTokenizer
    from data_prep.rvq import ResidualVQ

    torch.manual_seed(0)
    profile = load_profile("tiny", OVERRIDES)
    run = RunDir(root)
    run.create(profile)
    rows = []
    t = torch.arange(SR) / SR
    for i in range(5):
        midi = 57 + 2 * i
        wav = 0.4 * torch.sin(2 * torch.pi * 440.0 * 2 ** ((midi - 69) / 12) * t)
        save_wav(run.data_dir / "audio" / f"c{i}.wav", wav, SR)
        rows.append({"id": f"c{i}", "path": f"audio/c{i}.wav", "seconds": 1.0, "sample_rate": SR,
                     "split": "valid" if i == 4 else "train", "attributes": {"family": "keys" if i % 2 else "strings"},
                     "melody": [[0.0, 1.0, midi]]})
    rows.append({"id": "bad", "path": "audio/missing.wav", "seconds": 1.0, "sample_rate": SR, "split": "train"})
    run.manifest_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    codec = CodecTokenizer.from_config(profile.codec)
    codec.save(run.tokenizer("codec"))
    cond = ConditionTokenizer.small(profile.clap)
    cond.rvq = ResidualVQ.fit(torch.nn.functional.normalize(torch.randn(64, profile.clap.embed_dim), dim=1), 3, 8, iters=2)
    cond.save(run.tokenizer("clap"))
    cond.rvq.save(run.tokenizer("rvq"))
    return run


def test_kmeans_tokenize_resume_and_eval(tmp_path, capsys):
    run = make_run(tmp_path / "r")
    assert main(["tokenize", "--run", str(run.root)]) == 2
    err = capsys.readouterr().err
    assert "missing" in err and "kmeans.pt" in err and "codec.pt" not in err

    assert main(["train", "kmeans", "--run", str(run.root)]) == 0
    assert run.tokenizer("semantic").is_file() and run.tokenizer("kmeans").is_file()

    assert main(["tokenize", "--run", str(run.root)]) == 0
    cache = TokenCache(run.cache_dir)
    ids = sorted(r["id"] for r in cache.records())
    assert ids == ["c0", "c1", "c2", "c3", "c4"] and [r["id"] for r in cache.rejects()] == ["bad"]
    meta = cache.meta
    assert meta["semantic_bins"] == 8 and meta["cond_levels"] == 3 and meta["melody_bins"] == 0
    rec = cache.records("valid")[0]
    assert rec["acoustic"].shape[0] == meta["n_q"] and abs(rec["semantic"].shape[0] - 25) <= 1
    mtimes = {p: p.stat().st_mtime_ns for p in run.cache_dir.glob("shard-*.pt")}
    capsys.readouterr()
    assert main(["tokenize", "--run", str(run.root)]) == 0
    assert '"shards_written": 0' in capsys.readouterr().out
    assert mtimes == {p: p.stat().st_mtime_ns for p in run.cache_dir.glob("shard-*.pt")}
    assert set(meta["tokenizers"]) == {"codec", "clap", "rvq", "semantic", "kmeans"}
    assert main(["train", "kmeans", "--run", str(run.root), "semantic.kmeans.seed=1"]) == 0
    capsys.readouterr()
    assert main(["tokenize", "--run", str(run.root)]) == 0  # new centroids: every shard is redone
    assert '"shards_written": 3' in capsys.readouterr().out

    assert main(["eval", "semantic", "--run", str(run.root), "semantic.kmeans.clusters=4"]) == 0
    report = json.loads((run.reports_dir / "semantic" / "nmi.json").read_text())
    assert "mel" in report["sources"] and "nmi_pitch_class" in report["sources"]["mel"]
    assert report["eval_clips"] == 1 and (run.reports_dir / "semantic" / "nmi.md").is_file()


def test_semantic_ssl_cli_refuses_mel_source(tmp_path, capsys):
    run = RunDir(tmp_path / "m")
    run.create(load_profile("tiny", ["semantic.source=mel"]))
    assert main(["train", "semantic-ssl", "--run", str(run.root)]) == 2
    assert "needs no SSL training" in capsys.readouterr().err


def test_text_only_refresh_matches_a_full_tokenize(tmp_path, capsys):
    """After a text tower change, `tokenize --text-only` rewrites the cache to what a full tokenize writes; after an
    audio tower change it refuses with one line."""
    from data_prep.clap import ConditionTokenizer

    run = make_run(tmp_path / "r")
    rows = [json.loads(line) for line in run.manifest_path.read_text().splitlines()]
    for row in rows:
        row["caption"] = f"a short tune on {row['attributes']['family']}" if "attributes" in row else ""
        row.setdefault("attributes", {})["drums"] = False
    run.manifest_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["train", "kmeans", "--run", str(run.root)]) == 0
    assert main(["tokenize", "--run", str(run.root)]) == 0
    before = {r["id"]: r for r in TokenCache(run.cache_dir).records()}
    cond = ConditionTokenizer.load(run.tokenizer("clap"), run.tokenizer("rvq"))
    with torch.no_grad():
        cond.model.text.proj[2].weight.mul_(-1.0)  # another text tower, same audio tower
    cond.save(run.tokenizer("clap"))
    capsys.readouterr()
    assert main(["tokenize", "--run", str(run.root), "--text-only"]) == 0
    assert "rewrote the text tokens of 3 shards" in capsys.readouterr().out
    assert main(["tokenize", "--run", str(run.root), "--out", str(tmp_path / "full")]) == 0
    got, want = TokenCache(run.cache_dir), TokenCache(tmp_path / "full")
    assert got.meta == want.meta
    for a, b in zip(got.records(), want.records()):
        assert torch.equal(a["cond_text"], b["cond_text"]) and torch.equal(a["cond"], before[a["id"]]["cond"])
        assert torch.equal(a["acoustic"], before[a["id"]]["acoustic"])
    assert any(not torch.equal(a["cond_text"], before[a["id"]]["cond_text"]) for a in got.records())
    with torch.no_grad():
        cond.model.audio.proj[2].weight.mul_(-1.0)
    cond.save(run.tokenizer("clap"))
    capsys.readouterr()
    assert main(["tokenize", "--run", str(run.root), "--text-only"]) == 2
    assert "audio tower" in capsys.readouterr().err
