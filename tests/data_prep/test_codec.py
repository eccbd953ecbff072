"""CodecTokenizer: shapes, determinism, chunking, coarse decode, save/load (fp16, official format), bad files."""
from __future__ import annotations

import pytest
import torch

from data_prep.codec import CodecTokenizer
from data_prep.codec.codebooks import codebooks, kmeans_init_
from data_prep.errors import DataError
from tests.data_prep.codec_helpers import tiny_config, tones


def _ready(lstm: int = 1, **cfg: object) -> CodecTokenizer:
    """A tiny codec with data-initialised codebooks, so codes are not all zero."""
    torch.manual_seed(0)
    config = tiny_config(lstm=lstm)
    for key, value in cfg.items():
        setattr(config, key, value)
    tok = CodecTokenizer.from_config(config)
    with torch.no_grad():
        emb = tok.model.encoder(torch.stack(tones(4, 0.5))[:, None])
    kmeans_init_(tok.model, emb.transpose(1, 2).reshape(-1, emb.shape[1]), iters=3, generator=torch.Generator().manual_seed(0))
    return tok


def test_properties_follow_bandwidth_and_split():
    tok = _ready()
    assert (tok.sample_rate, tok.frame_rate, tok.hop_length) == (24000, 75, 320)
    assert (tok.n_q, tok.n_coarse, tok.bins) == (4, 2, 64)


def test_encode_decode_shapes_and_determinism():
    tok = _ready()
    wav = torch.stack(tones(2, 0.5, seed=1))
    codes = tok.encode(wav)
    assert codes.dtype == torch.long and codes.shape == (2, 4, 38)
    assert int(codes.min()) >= 0 and int(codes.max()) < tok.bins
    assert torch.unique(codes[:, 0]).numel() > 1
    assert torch.equal(codes, tok.encode(wav))
    out = tok.decode(codes)
    assert out.shape == (2, 38 * 320)
    assert torch.equal(out, tok.decode(codes))


def test_batch_rows_match_single_encodes():
    tok = _ready()
    wav = torch.stack(tones(2, 0.5, seed=2))
    assert torch.equal(tok.encode(wav)[1], tok.encode(wav[1])[0])


def test_coarse_only_decode_differs_from_full_but_has_same_length():
    tok = _ready()
    codes = tok.encode(torch.stack(tones(1, 0.5, seed=3)))
    coarse = tok.decode(codes[:, : tok.n_coarse])
    full = tok.decode(codes)
    assert coarse.shape == full.shape
    assert not torch.allclose(coarse, full)


def test_chunked_encode_is_exact_without_lstm():
    tok = _ready(lstm=0)
    wav = torch.stack(tones(1, 2.0, seed=4))
    whole = tok.encode(wav)
    tok.cfg.chunk_seconds, tok.cfg.context_seconds = 0.4, 0.3
    assert torch.equal(tok.encode(wav), whole)


def test_chunked_encode_with_lstm_agrees_within_tolerance():
    """The encoder LSTM sees only `context_seconds` of the past per chunk; codes agree on >= 95% of frames."""
    tok = _ready(lstm=1)
    wav = torch.stack(tones(1, 2.0, seed=5))
    whole = tok.encode(wav)
    tok.cfg.chunk_seconds, tok.cfg.context_seconds = 0.4, 0.3
    chunked = tok.encode(wav)
    assert chunked.shape == whole.shape
    assert (chunked == whole).float().mean() >= 0.95


def test_decode_rejects_too_many_levels_and_out_of_range_codes():
    tok = _ready()
    with pytest.raises(DataError):
        tok.decode(torch.zeros(1, 5, 10, dtype=torch.long))
    with pytest.raises(DataError):
        tok.decode(torch.full((1, 2, 10), 64, dtype=torch.long))


def test_save_load_round_trip_fp32_and_fp16(tmp_path):
    tok = _ready()
    wav = torch.stack(tones(1, 0.5, seed=6))
    codes = tok.encode(wav)
    tok.save(tmp_path / "c32.pt")
    tok.save(tmp_path / "c16.pt", half=True)
    same = CodecTokenizer.load(tmp_path / "c32.pt")
    assert torch.equal(same.encode(wav), codes)
    assert torch.equal(same.decode(codes), tok.decode(codes))
    half = CodecTokenizer.load(tmp_path / "c16.pt")
    assert next(half.model.parameters()).dtype == torch.float32
    assert (tmp_path / "c16.pt").stat().st_size < (tmp_path / "c32.pt").stat().st_size
    stored = torch.load(tmp_path / "c16.pt", map_location="cpu", weights_only=True)["state_dict"]
    assert stored["decoder.model.0.conv.conv.weight_v"].dtype == torch.float16
    assert stored["quantizer.vq.layers.0._codebook.embed"].dtype == torch.float32
    assert torch.equal(half.encode(wav), codes)
    assert torch.allclose(half.decode(codes), tok.decode(codes), atol=1e-2)
    blob = torch.load(tmp_path / "c32.pt", map_location="cpu", weights_only=True)
    assert set(blob) >= {"config", "state_dict"}


def test_official_architecture_from_local_state_dict(tmp_path):
    from encodec import EncodecModel

    torch.manual_seed(0)
    official = EncodecModel.encodec_model_24khz(pretrained=False)
    for book in (layer._codebook for layer in official.quantizer.vq.layers):
        book.embed.data.normal_(0, 0.1)
        book.inited.fill_(1.0)
    path = tmp_path / "encodec_24khz-d7cc33bc.th"
    torch.save(official.state_dict(), path)
    config = tiny_config()
    config.pretrained, config.bandwidth, config.n_coarse = str(path), 6.0, 4
    tok = CodecTokenizer.from_config(config)
    assert (tok.n_q, tok.frame_rate, tok.bins) == (8, 75, 1024)
    wav = torch.stack(tones(1, 0.5, seed=7))
    codes = tok.encode(wav)
    with torch.no_grad():
        ref = official.quantizer.encode(official.encoder(wav[:, None]), 75, 6.0).transpose(0, 1)
        ref_wav = official.decoder(official.quantizer.decode(ref.transpose(0, 1)))[:, 0]
    assert torch.equal(codes, ref)
    assert torch.allclose(tok.decode(codes), ref_wav, atol=1e-6)
    tok.save(tmp_path / "codec.pt")
    again = CodecTokenizer.load(tmp_path / "codec.pt")
    assert again.arch == "official" and torch.equal(again.encode(wav), codes)


def test_official_download_offline_is_a_clear_error(monkeypatch):
    import data_prep.codec.tokenizer as tokenizer_module

    def offline(pretrained: bool = False):
        raise OSError("no network")

    monkeypatch.setattr(tokenizer_module, "build_official", offline)
    config = tiny_config()
    config.pretrained = "official"
    with pytest.raises(DataError, match="local"):
        CodecTokenizer.from_config(config)


def test_bad_checkpoints_raise_data_error(tmp_path):
    with pytest.raises(DataError):
        CodecTokenizer.load(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError):
        CodecTokenizer.load(garbage)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "nokeys.pt")
    with pytest.raises(DataError):
        CodecTokenizer.load(tmp_path / "nokeys.pt")
    tok = _ready()
    tok.save(tmp_path / "codec.pt", checksum=True)
    CodecTokenizer.load(tmp_path / "codec.pt")
    (tmp_path / "codec.pt.sha256").write_text("0" * 64 + "  codec.pt\n")
    with pytest.raises(DataError, match="checksum"):
        CodecTokenizer.load(tmp_path / "codec.pt")
    wrong = tiny_config()
    wrong.pretrained = str(tmp_path / "nokeys.pt")
    with pytest.raises(DataError):
        CodecTokenizer.from_config(wrong)


def test_fresh_small_codec_has_zero_codebooks_until_initialised():
    torch.manual_seed(0)
    tok = CodecTokenizer.from_config(tiny_config())
    assert all(float(book.embed.abs().sum()) == 0.0 for book in codebooks(tok.model))
