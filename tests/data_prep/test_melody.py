"""Melody tokens: chroma argmax behaviour, learned tokenizer round trip, triplet loss, training and retrieval."""
import math
import sys
from pathlib import Path

import pytest
import torch

from data_prep.manifest import read_manifest, split_records
from data_prep.errors import DataError
from data_prep.melody.config import MelodyConfig, MelodyTrainConfig
from data_prep.melody.model import semi_hard_triplet_loss
from data_prep.melody.tokenizer import SILENT, MelodyTokenizer
from data_prep.melody.train import melody_groups, train_melody
from data_prep.rvq import ResidualVQ

sys.path.insert(0, str(Path(__file__).parent))
from clap_fixtures import SR, melody_wav, write_melody_corpus  # noqa: E402


def _sine(freq: float, seconds: float, sr: int) -> torch.Tensor:
    return 0.3 * torch.sin(2 * math.pi * freq * torch.arange(int(seconds * sr)) / sr)


def test_chroma_argmax_finds_pitch_class_and_silence():
    tok = MelodyTokenizer.chroma(MelodyConfig(frame_rate=4.0))
    wav = torch.cat([_sine(440.0, 1.0, SR), torch.zeros(SR), _sine(261.63, 1.0, SR)])
    ids = tok.tokens(wav, SR)[0]
    assert ids.shape == (12,) and tok.rate == 4.0 and tok.vocab_size == 13
    assert ids[:4].tolist() == [9] * 4
    assert ids[5:8].tolist() == [SILENT] * 3
    assert ids[9:].tolist() == [0] * 3


def test_chroma_accepts_stereo_and_any_rate():
    tok = MelodyTokenizer.chroma(MelodyConfig())
    mono = tok.tokens(_sine(330.0, 2.0, 24000), 24000)
    stereo = tok.tokens(torch.stack([_sine(330.0, 2.0, 44100)] * 2)[None], 44100)
    assert torch.equal(mono, stereo)


def _learned(levels: int = 3, bins: int = 8) -> MelodyTokenizer:
    torch.manual_seed(0)
    cfg = MelodyConfig(kind="learned", rvq_levels=levels, rvq_bins=bins, width=16, embed_dim=24)
    tok = MelodyTokenizer.learned(cfg)
    wavs = torch.stack([melody_wav([60 + i, 64, 67 + i % 3, 72] * 4, 0.5, i % 2) for i in range(6)])
    emb = tok.window_embeddings(wavs, SR)
    tok.rvq = ResidualVQ.fit(emb.reshape(-1, 24), levels, bins, iters=3)
    return tok


def test_learned_tokens_round_trip(tmp_path):
    tok = _learned()
    wav = melody_wav([62, 65, 69, 72] * 5, 0.5, 0)  # 10 s -> 3 windows of 4 s (tail padded)
    ids = tok.tokens(wav, SR)
    assert ids.shape == (1, 3 * 3) and ids.dtype == torch.long and int(ids.max()) < 8
    assert tok.rate == 3 / 4.0 and tok.vocab_size == 8
    tok.save(tmp_path / "melody.pt")
    back = MelodyTokenizer.load(tmp_path / "melody.pt")
    assert torch.equal(back.tokens(wav, SR), ids) and back.config == tok.config


def test_chroma_tokenizer_has_nothing_to_save(tmp_path):
    with pytest.raises(DataError):
        MelodyTokenizer.chroma(MelodyConfig()).save(tmp_path / "m.pt")


def test_semi_hard_triplet_loss():
    labels = torch.tensor([0, 0, 1, 1])
    good = torch.nn.functional.normalize(torch.tensor([[1.0, 0], [1, 0.01], [0, 1], [0.01, 1]]), dim=1)
    bad = torch.nn.functional.normalize(torch.tensor([[1.0, 0], [0, 1], [1, 0.01], [0.01, 1]]), dim=1)
    assert float(semi_hard_triplet_loss(good, labels, 0.2)) == 0.0
    assert float(semi_hard_triplet_loss(bad, labels, 0.2)) > 0.1


def test_train_and_retrieve(tmp_path):
    manifest = write_melody_corpus(tmp_path / "data", groups=5, seconds=8.0, heldout=2)
    records = read_manifest(manifest)
    train = split_records(records, "train")
    assert len(melody_groups(train)[0]) == 3
    cfg = MelodyConfig(kind="learned", rvq_levels=2, rvq_bins=8, width=16, embed_dim=24,
                       train=MelodyTrainConfig(steps=6, batch_melodies=4, ckpt_every=3))
    tok, result = train_melody(cfg, train, tmp_path / "work", tmp_path / "melody.pt")
    assert result.steps == 6 and (tmp_path / "melody.pt").is_file() and (tmp_path / "work" / "state.pt").is_file()
    assert tok.tokens(melody_wav([60] * 16, 0.5, 0), SR).shape == (1, 2 * 2)

    from data_prep.audio_io import load_audio
    from eval.melody_eval import retrieval_report

    held = [r for r in records if r["split"] == "test"]
    wavs = [load_audio(r["path"], SR) for r in held]
    report = retrieval_report(tok, MelodyTokenizer.chroma(cfg), held, wavs, SR)
    methods = report["methods"]
    assert report["groups"] == 2 and report["windows"] == 8
    assert methods["chroma argmax tokens"]["candidates"] == 6 and methods["chroma argmax tokens"]["r_at_1"] == 1.0
    assert set(methods) >= {"learned (continuous)", "learned tokens (RVQ 2x8)"}


def test_train_melody_command_and_rvq_refit(tmp_path, monkeypatch):
    import argparse

    from pipeline.commands import train_melody as cmd
    from pipeline.profile import load_profile
    from pipeline.run_dir import RunDir

    monkeypatch.setenv("STRATA_RUNS", str(tmp_path))
    over = ["melody.kind=learned", "melody.width=16", "melody.embed_dim=24", "melody.rvq_levels=2", "melody.rvq_bins=8",
            "melody.train.steps=3", "melody.train.batch_melodies=4"]
    rd = RunDir.from_arg("m")
    rd.create(load_profile("tiny", over))
    write_melody_corpus(rd.data_dir, groups=3, seconds=5.0, heldout=1)

    def args(**kw):
        return argparse.Namespace(**{"run": "m", "overrides": [], "max_minutes": None, "resume": False, "fresh": False,
                                     "rvq_only": False, **kw})

    assert cmd.run(args()) == 0
    assert MelodyTokenizer.load(rd.tokenizer("melody")).vocab_size == 8
    assert cmd.run(args(rvq_only=True, overrides=["melody.rvq_bins=4"])) == 0
    tok = MelodyTokenizer.load(rd.tokenizer("melody"))
    assert tok.vocab_size == 4 and int(tok.tokens(melody_wav([60] * 10, 0.5, 0), SR).max()) < 4
