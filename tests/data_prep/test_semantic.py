"""Semantic features: fairseq2 checkpoint round trips, layer choice, token rate, tokenizer save/load, SSL training resume."""
import pytest
import torch

from data_prep.errors import DataError
from data_prep.semantic.config import KMeansConfig, SemanticConfig, SSLTrainConfig
from data_prep.semantic.fit import fit_tokenizer
from data_prep.semantic.ssl import create_model, layer_features, load_fairseq2_checkpoint, save_fairseq2_checkpoint
from data_prep.semantic.tokenizer import SemanticTokenizer
from data_prep.semantic.train_ssl import STATE_FILE, train_ssl

SR = 16000


def tiny_cfg(**kw) -> SemanticConfig:
    base = dict(model_dim=32, num_layers=2, num_heads=2, ffn_dim=64, conv_channels=32, layer=2,
                kmeans=KMeansConfig(clusters=8, iters=5))
    base.update(kw)
    return SemanticConfig(**base)


def tones(n: int = 3, seconds: float = 1.0, sr: int = SR) -> list[torch.Tensor]:
    t = torch.arange(int(seconds * sr)) / sr
    return [0.5 * torch.sin(2 * torch.pi * (220.0 * (i + 1)) * t) for i in range(n)]


@pytest.mark.parametrize("family, kw", [("wav2vec2", {}), ("w2vbert", {"num_layers": 3, "pool": 2})])
def test_fairseq2_checkpoint_round_trip_gives_identical_features(tmp_path, family, kw):
    torch.manual_seed(0)
    cfg = tiny_cfg(family=family, **kw)
    model = create_model(cfg).eval()
    path = tmp_path / "model.pt"
    save_fairseq2_checkpoint(model, path)
    assert set(torch.load(path, weights_only=True)) == {"model"}
    loaded = load_fairseq2_checkpoint(cfg, path).eval()
    wav = torch.randn(2, SR)
    a, b = layer_features(model, cfg, wav), layer_features(loaded, cfg, wav)
    assert a.shape[-1] == cfg.model_dim and torch.equal(a, b)


def test_checkpoint_of_other_size_is_a_clear_error(tmp_path):
    save_fairseq2_checkpoint(create_model(tiny_cfg()), tmp_path / "m.pt")
    with pytest.raises(DataError, match="model_dim=48"):
        load_fairseq2_checkpoint(tiny_cfg(model_dim=48), tmp_path / "m.pt")
    with pytest.raises(DataError, match="not found"):
        load_fairseq2_checkpoint(tiny_cfg(), tmp_path / "missing.pt")


def test_layer_is_configurable_and_checked():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    model = create_model(cfg).eval()
    wav = torch.randn(1, SR)
    first = layer_features(model, tiny_cfg(layer=1), wav)
    second = layer_features(model, tiny_cfg(layer=2), wav)
    assert first.shape == second.shape and not torch.allclose(first, second)
    with pytest.raises(DataError, match="outside 1..2"):
        layer_features(model, tiny_cfg(layer=3), wav)


@pytest.mark.parametrize("source", ["ssl", "mel"])
def test_tokens_at_25_hz_and_save_load_round_trip(tmp_path, source):
    torch.manual_seed(0)
    cfg = tiny_cfg(source=source)
    tok = SemanticTokenizer.from_config(cfg)
    clips = tones(4, 2.0, 24000)
    figures = fit_tokenizer(tok, clips, 24000, cfg.kmeans)
    assert tok.rate == 25.0 and figures["clusters_used"] >= 2
    ids = tok.tokens(clips[0].unsqueeze(0), 24000)
    assert ids.dtype == torch.long and abs(ids.shape[1] - 50) <= 1 and int(ids.max()) < 8
    normed = tok.features(torch.stack(clips), 24000).reshape(-1, tok.extractor.dim)
    assert normed.mean(0).abs().max() < 1e-3 and (normed.std(0) - 1).abs().max() < 0.05
    from data_prep.semantic.kmeans import save_kmeans

    tok.save(tmp_path / "semantic.pt")
    save_kmeans(tmp_path / "kmeans.pt", tok.centroids, cfg.kmeans, 0.0, source)
    again = SemanticTokenizer.load(tmp_path / "semantic.pt", tmp_path / "kmeans.pt")
    assert torch.equal(again.tokens(clips[0].unsqueeze(0), 24000), ids)
    assert torch.equal(again.centroids, tok.centroids) and again.vocab_size == 8


def test_load_takes_the_refit_kmeans_and_layer(tmp_path):
    torch.manual_seed(0)
    cfg = tiny_cfg(source="ssl")
    SemanticTokenizer.from_config(cfg).save(tmp_path / "semantic.pt")
    refit = KMeansConfig(clusters=4, iters=3)
    again = SemanticTokenizer.load(tmp_path / "semantic.pt", kmeans=refit, layer=1)
    assert again.cfg.kmeans == refit and again.cfg.layer == 1
    plain = SemanticTokenizer.load(tmp_path / "semantic.pt")
    wav = torch.randn(1, SR)
    assert not torch.allclose(again.extractor.raw(wav, SR), plain.extractor.raw(wav, SR))
    assert plain.cfg.kmeans == cfg.kmeans and plain.cfg.layer == 2


def test_tokens_need_centroids():
    tok = SemanticTokenizer.from_config(tiny_cfg(source="mel"))
    with pytest.raises(DataError, match="train kmeans"):
        tok.tokens(torch.randn(1, SR), SR)


def test_ssl_training_resumes_after_interruption(tmp_path):
    train = SSLTrainConfig(steps=2, batch_size=2, segment_seconds=1.0, warmup_steps=1, ckpt_every=1, stats_clips=2)
    clips = [0.1 * torch.randn(SR) for _ in range(3)]
    out = tmp_path / "semantic.pt"
    first = train_ssl(tiny_cfg(train=train), clips, tmp_path / "state", out)
    assert first["finished"] == 1.0 and out.is_file()
    state = torch.load(tmp_path / "state" / STATE_FILE, weights_only=True)
    assert state["step"] == 2
    longer = dict(vars(train), steps=3)
    second = train_ssl(tiny_cfg(train=SSLTrainConfig(**longer)), clips, tmp_path / "state", out)
    assert second["step"] == 3.0
    stopped = train_ssl(tiny_cfg(train=SSLTrainConfig(**longer)), clips, tmp_path / "state2", out, max_minutes=0.0)
    assert stopped == {"step": 0.0, "loss": stopped["loss"], "finished": 0.0}
    assert (tmp_path / "state2" / STATE_FILE).is_file() and out.is_file()
    tok = SemanticTokenizer.load(out)
    assert tok.extractor.mean is not None and tok.cfg.source == "ssl"


def test_pretrained_path_or_unknown_asset(tmp_path):
    torch.manual_seed(0)
    cfg = tiny_cfg()
    model = create_model(cfg).eval()
    save_fairseq2_checkpoint(model, tmp_path / "w2v.pt")
    tok = SemanticTokenizer.from_config(tiny_cfg(pretrained=str(tmp_path / "w2v.pt")))
    wav = torch.randn(1, SR)
    assert torch.equal(tok.extractor.raw(wav, SR), layer_features(model, cfg, wav))
    with pytest.raises(DataError, match="no_such_asset_xyz"):
        SemanticTokenizer.from_config(tiny_cfg(pretrained="no_such_asset_xyz"))


def test_load_clips_reads_record_segments_and_reports_bad_ones(tmp_path):
    from data_prep.audio_io import save_wav
    from data_prep.semantic.train_ssl import load_clips

    save_wav(tmp_path / "a.wav", tones(1, 3.0)[0], SR)
    path = str(tmp_path / "a.wav")
    failed = []
    clips = load_clips([path, {"id": "a@1", "path": path, "start": 1.0, "end": 2.5},
                        {"id": "late", "path": path, "start": 2.0, "end": 9.0}], SR,
                       on_error=lambda name, exc: failed.append(name))
    assert [c.shape[0] for c in clips] == [3 * SR, int(1.5 * SR)] and failed == ["late"]
    assert torch.equal(clips[1], clips[0][SR:int(2.5 * SR)])
