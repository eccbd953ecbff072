"""Token cache: sharding, validation, resume after a simulated kill, rank split, rejects, reader, crops, text refresh."""
import json

import pytest
import torch

from data_prep.audio_io import save_wav
from data_prep.cache import TokenCache, write_cache
from data_prep.cache.text_refresh import refresh_text_tokens
from data_prep.cache.tokenize import cache_meta, caption_variants, make_tokenize_fn
from data_prep.cache.validate import validate_record
from data_prep.cache.writer import plan_shards, shard_path
from data_prep.errors import DataError
from stages.token_spec import TokenSpec

META = TokenSpec(semantic_rate=25.0, semantic_bins=16, acoustic_rate=75.0, codec_bins=32, n_q=4, n_coarse=2,
                 cond_levels=3, cond_bins=8, melody_rate=4.0, melody_bins=13, sample_rate=24000).as_meta()


def records(n: int) -> list[dict]:
    return [{"id": f"clip{i:03d}", "path": f"/nowhere/{i}.wav", "seconds": 2.0, "split": "valid" if i % 5 == 0 else "train"}
            for i in range(n)]


def fake_tokens(record: dict) -> dict:
    """Deterministic tokens whose content encodes the clip index."""
    i = int(record["id"][4:])
    secs = record["seconds"]
    return {
        "cond": torch.full((3,), i % 8, dtype=torch.long),
        "semantic": torch.full((int(secs * 25),), i % 16, dtype=torch.long),
        "acoustic": torch.full((4, int(secs * 75)), i % 32, dtype=torch.long),
        "melody": torch.full((int(secs * 4),), i % 13, dtype=torch.long),
        "clap": torch.randn(6),
    }


class Counter:
    def __init__(self, fn, kill_at: int | None = None):
        self.fn, self.kill_at, self.calls = fn, kill_at, []

    def __call__(self, record):
        if self.kill_at is not None and len(self.calls) == self.kill_at:
            raise KeyboardInterrupt  # a killed job: not a reject, the run stops
        self.calls.append(record["id"])
        return self.fn(record)


def test_resume_after_kill_has_no_duplicate_or_missing_clips(tmp_path):
    recs = records(10)
    first = Counter(fake_tokens, kill_at=7)
    with pytest.raises(KeyboardInterrupt):
        write_cache(recs, first, tmp_path, shard_size=3, meta=META)
    assert sorted(p.name for p in tmp_path.glob("shard-*.pt")) == ["shard-00000.pt", "shard-00001.pt"]
    assert not list(tmp_path.glob(".*.tmp"))  # the half-done shard left nothing behind
    second = Counter(fake_tokens)
    counts = write_cache(recs, second, tmp_path, shard_size=3, meta=META)
    assert counts["shards_skipped"] == 2 and counts["shards_written"] == 2
    assert second.calls == [r["id"] for r in recs[6:]]  # finished shards are not re-tokenized
    ids = [r["id"] for r in TokenCache(tmp_path).records()]
    assert ids == [r["id"] for r in recs]
    third = Counter(fake_tokens)
    assert write_cache(recs, third, tmp_path, shard_size=3, meta=META)["shards_written"] == 0 and not third.calls


def test_two_ranks_cover_every_clip_exactly_once(tmp_path):
    recs = records(11)
    seen = []
    for rank in (0, 1):
        fn = Counter(fake_tokens)
        write_cache(recs, fn, tmp_path, shard_size=2, rank=rank, world_size=2, meta=META)
        seen.append(set(fn.calls))
    assert not (seen[0] & seen[1]) and seen[0] | seen[1] == {r["id"] for r in recs}
    assert sorted(r["id"] for r in TokenCache(tmp_path).records()) == sorted(r["id"] for r in recs)
    owned = [i for r in (0, 1) for i, _, _ in plan_shards(11, 2, r, 2)]
    assert sorted(owned) == list(range(6))


def test_failing_and_invalid_clips_go_to_rejects(tmp_path):
    def flaky(record):
        i = int(record["id"][4:])
        if i == 2:
            raise OSError("cannot decode")
        out = fake_tokens(record)
        if i == 4:
            out["semantic"] = out["semantic"] + 100  # out of range
        if i == 5:
            out["acoustic"] = out["acoustic"][:, :10]  # length inconsistent with 75 Hz
        return out

    counts = write_cache(records(6), flaky, tmp_path, shard_size=4, meta=META)
    assert counts["rejects"] == 3 and counts["clips"] == 3
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert {r["id"] for r in rejects} == {"clip002", "clip004", "clip005"}
    assert "cannot decode" in rejects[0]["error"]
    cache = TokenCache(tmp_path)
    assert len(cache.rejects()) == 3 and [r["id"] for r in cache.records()] == ["clip000", "clip001", "clip003"]
    again = Counter(flaky)
    write_cache(records(6), again, tmp_path, shard_size=4, meta=META)
    assert not again.calls  # rejected clips count as done


def test_shards_written_under_other_tokenizers_are_redone(tmp_path):
    write_cache(records(4), fake_tokens, tmp_path, shard_size=2, meta=META)
    other = dict(META, semantic_bins=17)
    fn = Counter(fake_tokens)
    write_cache(records(4), fn, tmp_path, shard_size=2, meta=other)
    assert len(fn.calls) == 4 and TokenCache(tmp_path).meta["semantic_bins"] == 17


def test_reader_splits_meta_and_weights_only_shards(tmp_path):
    write_cache(records(10), fake_tokens, tmp_path, shard_size=4, meta=META)
    shard = torch.load(shard_path(tmp_path, 0), map_location="cpu", weights_only=True)
    assert shard["ids"] == [f"clip{i:03d}" for i in range(4)]
    cache = TokenCache(tmp_path)
    assert cache.meta == META
    assert [r["id"] for r in cache.records("valid")] == ["clip000", "clip005"]
    rec = cache.records("train")[0]
    assert rec["acoustic"].shape == (4, 150) and rec["cond"].tolist() == [1, 1, 1] and rec["seconds"] == 2.0


def test_validate_record_names_the_problem():
    rec = fake_tokens({"id": "clip001", "seconds": 2.0})
    validate_record(rec, META, 2.0)
    with pytest.raises(ValueError, match="cond has 2 tokens"):
        validate_record(dict(rec, cond=rec["cond"][:2]), META, 2.0)
    with pytest.raises(ValueError, match="melody tokens missing"):
        validate_record({k: v for k, v in rec.items() if k != "melody"}, META, 2.0)


class FakeCodec:
    sample_rate, frame_rate, bins, n_q, n_coarse = 24000, 75, 32, 4, 2

    def encode(self, wav):
        return torch.zeros(wav.shape[0], 4, wav.shape[-1] // 320, dtype=torch.long)


class FakeCond:
    levels, bins = 3, 8

    def embed_audio(self, wav, sr):
        return torch.nn.functional.normalize(torch.ones(wav.shape[0], 6), dim=-1)

    def quantize(self, emb):
        return torch.ones(emb.shape[0], 3, dtype=torch.long)

    def text_tokens(self, texts):
        return torch.tensor([[len(t) % 8] * 3 for t in texts])


class FakeSemantic:
    rate, vocab_size = 25.0, 16

    def tokens(self, wav, sr):
        return torch.zeros(wav.shape[0], int(wav.shape[-1] / sr * 25), dtype=torch.long)


def test_make_tokenize_fn_reads_audio_and_rejects_unreadable(tmp_path):
    save_wav(tmp_path / "a.wav", 0.3 * torch.sin(torch.arange(48000) / 10.0), 24000)
    recs = [{"id": "a", "path": str(tmp_path / "a.wav"), "seconds": 2.0, "split": "train"},
            {"id": "b", "path": str(tmp_path / "missing.wav"), "seconds": 2.0, "split": "train"}]
    meta = cache_meta(FakeCodec(), FakeCond(), FakeSemantic(), None)
    assert meta["melody_bins"] == 0 and meta["semantic_rate"] == 25.0
    assert TokenSpec.from_meta(meta).as_meta() == meta  # the writer's fields are exactly the spec the stages read
    counts = write_cache(recs, make_tokenize_fn(FakeCodec(), FakeCond(), FakeSemantic()), tmp_path / "c", 8, meta=meta)
    assert counts["clips"] == 1 and counts["rejects"] == 1
    rec = TokenCache(tmp_path / "c").records()[0]
    assert rec["acoustic"].shape == (4, 150) and rec["semantic"].shape == (50,) and rec["clap"].shape == (6,)


def test_caption_variants_are_stored_as_text_tokens_and_checked(tmp_path):
    save_wav(tmp_path / "a.wav", 0.3 * torch.sin(torch.arange(48000) / 10.0), 24000)
    attrs = {"family": "strings", "drums": False, "tempo_word": "slow", "mode": "minor"}
    recs = [{"id": "a", "path": str(tmp_path / "a.wav"), "seconds": 2.0, "split": "train",
             "caption": "slow strings in a minor key, no drums", "attributes": attrs},
            {"id": "b", "path": str(tmp_path / "a.wav"), "seconds": 2.0, "split": "train"}]
    variants = caption_variants(recs[0], 4)
    assert variants[0] == recs[0]["caption"] and len(variants) == 4 and variants == caption_variants(recs[0], 4)
    assert caption_variants(recs[1], 4) == [] and caption_variants(recs[0], 0) == []
    meta = cache_meta(FakeCodec(), FakeCond(), FakeSemantic(), None)
    write_cache(recs, make_tokenize_fn(FakeCodec(), FakeCond(), FakeSemantic(), None, 4), tmp_path / "c", 8, meta=meta)
    a, b = TokenCache(tmp_path / "c").records()
    assert a["cond_text"].shape == (4, 3) and "cond_text" not in b
    bad = dict(a, cond_text=torch.full((2, 3), 8))
    with pytest.raises(ValueError, match="cond_text"):
        validate_record(bad, meta, 2.0)


def test_make_tokenize_fn_reads_only_the_record_segment(tmp_path):
    save_wav(tmp_path / "a.wav", 0.3 * torch.sin(torch.arange(96000) / 10.0), 24000)
    recs = [{"id": "a@0", "path": str(tmp_path / "a.wav"), "seconds": 1.0, "start": 0.0, "end": 1.0, "split": "train"},
            {"id": "a@1", "path": str(tmp_path / "a.wav"), "seconds": 2.5, "start": 1.0, "end": 3.5, "split": "test"},
            {"id": "a", "path": str(tmp_path / "a.wav"), "seconds": 4.0, "split": "train"},
            {"id": "late", "path": str(tmp_path / "a.wav"), "seconds": 2.0, "start": 3.0, "end": 5.0, "split": "train"}]
    meta = cache_meta(FakeCodec(), FakeCond(), FakeSemantic(), None)
    counts = write_cache(recs, make_tokenize_fn(FakeCodec(), FakeCond(), FakeSemantic()), tmp_path / "c", 8, meta=meta)
    assert counts["clips"] == 3 and counts["rejects"] == 1
    by_id = {r["id"]: r for r in TokenCache(tmp_path / "c").records()}
    assert by_id["a@0"]["acoustic"].shape == (4, 75) and by_id["a@0"]["semantic"].shape == (25,)
    assert by_id["a@1"]["acoustic"].shape == (4, 187) and by_id["a@1"]["seconds"] == 2.5
    assert by_id["a"]["acoustic"].shape == (4, 300) and by_id["a"]["seconds"] == 4.0


class RetunedCond(FakeCond):
    """The same audio tower, another text tower (as after `strata train clap --text-only`)."""

    def text_tokens(self, texts):
        return torch.tensor([[(len(t) + 3) % 8, 1, 2] for t in texts])


def test_text_refresh_rewrites_only_text_tokens_and_resumes(tmp_path):
    save_wav(tmp_path / "a.wav", 0.3 * torch.sin(torch.arange(48000) / 10.0), 24000)
    attrs = {"family": "strings", "drums": False, "tempo_word": "slow", "mode": "minor"}
    recs = [{"id": f"c{i}", "path": str(tmp_path / "a.wav"), "seconds": 2.0, "split": "train",
             "caption": f"slow strings number {i}, no drums", "attributes": attrs} for i in range(5)]
    base = dict(cache_meta(FakeCodec(), FakeCond(), FakeSemantic(), None), caption_variants=3)
    old_meta = dict(base, tokenizers={"clap": "old", "codec": "x"})
    new_meta = dict(base, tokenizers={"clap": "new", "codec": "x"})
    write_cache(recs, make_tokenize_fn(FakeCodec(), FakeCond(), FakeSemantic(), None, 3), tmp_path / "c", 2,
                meta=old_meta)
    write_cache(recs, make_tokenize_fn(FakeCodec(), RetunedCond(), FakeSemantic(), None, 3), tmp_path / "want", 2,
                meta=new_meta)
    by_id = {r["id"]: r for r in recs}
    audio = lambda record: torch.ones(3, dtype=torch.long)  # noqa: E731  the cached audio tokens: tower unchanged
    assert refresh_text_tokens(tmp_path / "c", by_id, new_meta, RetunedCond().text_tokens, audio, 0.0) == 3
    got, want = TokenCache(tmp_path / "c"), TokenCache(tmp_path / "want")
    assert got.meta == new_meta
    for a, b in zip(got.records(), want.records()):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in ("cond", "cond_text", "acoustic", "semantic"))
    assert refresh_text_tokens(tmp_path / "c", by_id, new_meta, RetunedCond().text_tokens, audio, 0.0) == 0
    with pytest.raises(DataError, match="other tokenizers"):
        refresh_text_tokens(tmp_path / "c", by_id, dict(new_meta, semantic_bins=17), RetunedCond().text_tokens, audio,
                            0.0)
    moved = lambda record: torch.zeros(3, dtype=torch.long)  # noqa: E731
    with pytest.raises(DataError, match="audio tower"):
        refresh_text_tokens(tmp_path / "c", by_id, dict(new_meta, tokenizers={"clap": "newer", "codec": "x"}),
                            RetunedCond().text_tokens, moved, 0.0)
