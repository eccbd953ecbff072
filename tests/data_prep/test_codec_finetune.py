"""Codec fine-tuning: warm start from a file, a decoder-only run that keeps every token, the log-STFT term and the
package's MS-STFT discriminator terms."""
from __future__ import annotations

import pytest
import torch

from data_prep.codec.adversarial import build_discriminator, discriminator_loss, generator_losses
from data_prep.codec.losses import MultiScaleSTFT, log_stft_loss
from data_prep.codec.train import CodecTrainer
from data_prep.errors import DataError
from tests.data_prep.codec_helpers import tiny_config, tones


@pytest.fixture
def trained(tmp_path):
    """A tiny codec trained for a few steps and saved, the starting point of the fine-tunes."""
    trainer = CodecTrainer(tiny_config(steps=4), tones(6, 0.5), tmp_path / "base")
    tokenizer = trainer.train()
    tokenizer.save(tmp_path / "codec.pt")
    return tmp_path / "codec.pt", tokenizer


def test_decoder_only_finetune_keeps_codes_and_changes_audio(tmp_path, trained):
    path, base = trained
    clips = tones(6, 0.5, seed=1)
    trainer = CodecTrainer(tiny_config(steps=6, init_from=str(path), decoder_only=True, w_logstft=1.0, lr=3e-3),
                           clips, tmp_path / "ft")
    tuned = trainer.train()
    probe = torch.stack(tones(2, 0.5, seed=2))
    assert torch.equal(tuned.encode(probe), base.encode(probe))
    codes = base.encode(probe)
    assert not torch.allclose(tuned.decode(codes), base.decode(codes))
    encoder_before = dict(base.model.encoder.state_dict())
    for key, value in tuned.model.encoder.state_dict().items():
        assert torch.equal(value, encoder_before[key]), key
    assert "log_stft" in trainer.history[-1]


def test_decoder_only_resumes_exactly(tmp_path, trained):
    path, _ = trained
    cfg = dict(steps=4, init_from=str(path), decoder_only=True, w_adv=1.0, w_feat=1.0, disc_filters=2)
    clips = tones(4, 0.5)
    straight = CodecTrainer(tiny_config(**cfg), clips, tmp_path / "a").train()
    first = CodecTrainer(tiny_config(**cfg), clips, tmp_path / "b")
    first.train(steps=2)
    second = CodecTrainer(tiny_config(**cfg), clips, tmp_path / "b")
    assert second.resume() and second.step == 2
    second.train()
    for key, value in straight.model.state_dict().items():
        assert torch.allclose(value, second.model.state_dict()[key], atol=1e-6), key


def test_decoder_only_needs_a_start_and_init_must_match(tmp_path, trained):
    path, _ = trained
    with pytest.raises(DataError, match="init_from"):
        CodecTrainer(tiny_config(decoder_only=True), tones(2, 0.5), tmp_path / "a")
    other = tiny_config(init_from=str(path))
    other.dimension = 8
    with pytest.raises(DataError, match="dimension"):
        CodecTrainer(other, tones(2, 0.5), tmp_path / "b")


def test_log_stft_loss_is_zero_for_identical_audio_and_punishes_noise_between_partials():
    specs = MultiScaleSTFT([256, 512])
    tone = torch.stack(tones(1, 0.5))
    assert float(log_stft_loss(specs, tone, tone)) == 0.0
    hiss = tone + 1e-3 * torch.randn_like(tone)
    louder = tone * 1.05
    # A faint noise floor is nearly invisible in waveform terms but costs more than a 5% gain change here.
    assert float(log_stft_loss(specs, tone, hiss)) > float(log_stft_loss(specs, tone, louder))


def test_discriminator_terms_train_the_discriminator():
    torch.manual_seed(0)
    disc = build_discriminator(2)
    real = torch.stack(tones(4, 0.25))
    fake = 0.2 * torch.randn_like(real)
    opt = torch.optim.Adam(disc.parameters(), lr=1e-3)
    first = float(discriminator_loss(disc, real, fake).detach())
    for _ in range(15):
        opt.zero_grad()
        discriminator_loss(disc, real, fake).backward()
        opt.step()
    assert float(discriminator_loss(disc, real, fake).detach()) < first
    adv, feat = generator_losses(disc, real, fake)
    assert adv.requires_grad and float(feat.detach()) > 0
    _, same = generator_losses(disc, real, real)
    assert float(same.detach()) == pytest.approx(0.0, abs=1e-6)
