"""Small CLAP conditioner: offline import, checkpoint round trip, windowing, token parity, resumable training, CLI."""
import argparse
import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from data_prep.clap.laion import clap_module, clip_tokenize
from data_prep.clap.tokenizer import ConditionTokenizer, window_starts
from data_prep.clap.train import train_small_clap
from data_prep.errors import DataError
from data_prep.manifest import read_manifest, split_records
from data_prep.rvq import ResidualVQ

sys.path.insert(0, str(Path(__file__).parent))
from clap_fixtures import SR, tiny_config, tone, write_corpus  # noqa: E402


@pytest.fixture(scope="module")
def tok() -> ConditionTokenizer:
    torch.manual_seed(0)
    tok = ConditionTokenizer.small(tiny_config())
    g = torch.Generator().manual_seed(0)
    tok.rvq = ResidualVQ.fit(F.normalize(torch.randn(200, 32, generator=g), dim=1), levels=3, bins=16, iters=3)
    return tok


def test_offline_import_skips_laion_clap_init():
    module = clap_module()
    assert hasattr(module, "create_model")
    assert "laion_clap" not in sys.modules
    ids = clip_tokenize(["solo piano, slow tempo"], 77)
    assert ids.shape == (1, 77) and int(ids.max()) == 49407


def test_window_starts_cover_clip():
    assert window_starts(5, 10, 1) == [0]
    assert window_starts(25, 10, 5) == [0, 5, 10, 15]
    assert window_starts(27, 10, 5)[-1] == 17


def test_embed_audio_averages_windows(tok):
    wav = tone(330.0, 2.0)
    emb = tok.embed_audio(wav, SR)
    assert emb.shape == (1, 32)
    assert torch.allclose(emb.norm(dim=1), torch.ones(1), atol=1e-5)
    mel = tok.model.frontend(wav[None])
    hop_f, win_f = int(0.5 * SR / 320), int(1.0 * SR / 320)
    parts = [tok.model.embed_mel(mel[..., s:s + win_f]) for s in window_starts(mel.shape[-1], win_f, hop_f)]
    expected = F.normalize(torch.cat(parts).mean(dim=0, keepdim=True), dim=-1)
    assert torch.allclose(emb, expected, atol=1e-5)
    stereo = torch.stack([wav, wav])[None]
    assert torch.allclose(tok.embed_audio(stereo, SR), emb, atol=1e-5)


def test_text_and_audio_tokens_share_quantizer(tok):
    audio = tok.audio_tokens(torch.stack([tone(220.0, 1.5), tone(440.0, 1.5)]), SR)
    text = tok.text_tokens(["strings music", "percussion, fast tempo"])
    for tokens in (audio, text):
        assert tokens.shape == (2, tok.levels) and tokens.dtype == torch.long
        assert int(tokens.min()) >= 0 and int(tokens.max()) < tok.bins
    assert tok.dequantize(text).shape == (2, 32)
    assert torch.allclose(tok.dequantize(audio).norm(dim=1), torch.ones(2), atol=1e-5)


def test_checkpoint_round_trip(tok, tmp_path):
    tok.save(tmp_path / "clap.pt")
    tok.rvq.save(tmp_path / "rvq.pt")
    back = ConditionTokenizer.load(tmp_path / "clap.pt", tmp_path / "rvq.pt")
    wav = tone(262.0, 1.2)
    assert torch.allclose(back.embed_audio(wav, SR), tok.embed_audio(wav, SR), atol=1e-6)
    assert torch.equal(back.text_tokens(["bowed strings"]), tok.text_tokens(["bowed strings"]))
    assert back.config == tok.config


def test_tokens_without_rvq_is_a_user_error():
    with pytest.raises(DataError, match="strata train clap"):
        ConditionTokenizer.small(tiny_config()).text_tokens(["x"])


def test_training_resumes_to_the_same_weights(tmp_path):
    manifest = write_corpus(tmp_path / "data", n=8, seconds=1.5)
    records = split_records(read_manifest(manifest), "train")
    cfg = tiny_config(steps=4)
    straight, res = train_small_clap(cfg, records, tmp_path / "a", tmp_path / "a.pt")
    assert res.steps == 4 and res.finished
    assert (tmp_path / "a.pt").stat().st_size < 2_000_000  # unseen BPE rows are zeroed and not stored
    cfg_half = tiny_config(steps=4)
    cfg_half.train.steps = 2
    train_small_clap(cfg_half, records, tmp_path / "b", tmp_path / "b.pt")
    resumed, res_b = train_small_clap(cfg, records, tmp_path / "b", tmp_path / "b.pt", resume=True)
    assert res_b.steps == 4
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5), name


def _args(**kw) -> argparse.Namespace:
    base = dict(overrides=[], max_minutes=None, resume=False, fresh=False, rvq_only=False, text_only=False,
                max_clips=0)
    base.update(kw)
    return argparse.Namespace(**base)


def _tiny_run(name: str):
    """A run folder (under $STRATA_RUNS) whose profile makes CLAP training take seconds."""
    from pipeline.profile import load_profile
    from pipeline.run_dir import RunDir

    over = ["clap.embed_dim=32", "clap.audio_width=16", "clap.text_width=32", "clap.text_layers=1",
            "clap.text_heads=2", "clap.window_seconds=1.0", "clap.train.steps=3", "clap.train.batch_size=4",
            "clap.train.crop_seconds=0.5", "clap.mel_hop=320", "rvq.levels=2", "rvq.bins=4"]
    rd = RunDir.from_arg(name)
    rd.create(load_profile("tiny", over))
    return rd


def test_train_and_eval_commands(tmp_path, monkeypatch, capsys):
    from pipeline.commands import eval_clap, train_clap
    from pipeline.errors import UserError

    monkeypatch.setenv("STRATA_RUNS", str(tmp_path))
    rd = _tiny_run("r")
    with pytest.raises(UserError, match="no manifest at"):
        train_clap.run(_args(run="r"))
    write_corpus(rd.data_dir, n=10, seconds=1.5)
    assert train_clap.run(_args(run="r")) == 0
    assert rd.tokenizer("clap").is_file() and rd.tokenizer("rvq").is_file()
    with pytest.raises(UserError, match="--resume"):
        train_clap.run(_args(run="r"))
    before = rd.tokenizer("clap").read_bytes()
    assert train_clap.run(_args(run="r", rvq_only=True, overrides=["rvq.bins=3", "rvq.fit_crops=2"])) == 0
    assert rd.tokenizer("clap").read_bytes() == before
    assert ResidualVQ.load(rd.tokenizer("rvq")).bins == 3
    assert json.loads((rd.tokenizers_dir / "clap_train" / "rvq_report.json").read_text())["rvq"]["fit_vectors"] == 8 * 3
    assert eval_clap.run(_args(run="r")) == 0
    report = json.loads((rd.reports_dir / "clap" / "zero_shot.json").read_text())
    family = report["attributes"]["family"]
    assert family["continuous"]["chance"] == 0.5 and 0.0 <= family["quantized"]["accuracy"] <= 1.0
    assert report["rvq"]["levels"] == 2
    assert "caption->clip R@1" in (rd.reports_dir / "clap" / "zero_shot.md").read_text()
    with pytest.raises(UserError, match="exclude"):
        train_clap.run(_args(run="r", rvq_only=True, text_only=True))


def test_text_only_fine_tune_keeps_audio_tower_and_rvq(tmp_path, monkeypatch):
    """--text-only trains the text tower alone: audio embeddings, rvq.pt and earlier-trained BPE rows stay."""
    from pipeline.commands import train_clap

    monkeypatch.setenv("STRATA_RUNS", str(tmp_path))
    rd = _tiny_run("t")
    write_corpus(rd.data_dir, n=10, seconds=1.5)
    assert train_clap.run(_args(run="t")) == 0
    before = ConditionTokenizer.load(rd.tokenizer("clap"))
    rvq_bytes = rd.tokenizer("rvq").read_bytes()
    assert train_clap.run(_args(run="t", text_only=True, restart=True,
                                overrides=["clap.train.steps=4", "clap.train.caption_free_prob=1.0"])) == 0
    after = ConditionTokenizer.load(rd.tokenizer("clap"))
    assert rd.tokenizer("rvq").read_bytes() == rvq_bytes
    old, new = before.model.state_dict(), after.model.state_dict()
    assert all(torch.equal(old[k], new[k]) for k in old if k.startswith("audio."))
    assert not torch.equal(old["text.proj.0.weight"], new["text.proj.0.weight"])
    table = "text.token_embedding.weight"
    kept = old[table].abs().sum(dim=1) != 0
    assert bool((new[table][kept].abs().sum(dim=1) != 0).all())  # rows the first training used are not zeroed
    wav = tone(440.0, 1.5)
    assert torch.equal(before.embed_audio(wav, SR), after.embed_audio(wav, SR))


def test_token_table_is_stored_sparsely():
    from data_prep.clap.tokenizer import TOKEN_TABLE, pack_token_rows, unpack_token_rows

    table = torch.zeros(100, 4)
    table[[3, 17]] = torch.randn(2, 4)
    packed = pack_token_rows({TOKEN_TABLE: table, "other": torch.ones(2)})
    assert TOKEN_TABLE not in packed and packed[TOKEN_TABLE + ".rows"].shape == (2, 4)
    back = unpack_token_rows(packed)
    assert torch.equal(back[TOKEN_TABLE], table) and torch.equal(back["other"], torch.ones(2))
    dense = torch.randn(10, 4)
    assert torch.equal(unpack_token_rows(pack_token_rows({TOKEN_TABLE: dense}))[TOKEN_TABLE], dense)
