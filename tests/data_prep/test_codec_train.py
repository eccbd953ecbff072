"""Codec training: the dead-code fix (fails with stock encodec), k-means init, exact resume, losses going down."""
from __future__ import annotations

import pytest
import torch

from data_prep.codec.codebooks import kmeans_init_, replace_dead_codes_
from data_prep.codec.model import build_small, init_weights_
from data_prep.codec.train import CodecTrainer
from data_prep.errors import DataError
from tests.data_prep.codec_helpers import tiny_config, tones


def _collapsed_codebook():
    """A stock encodec codebook where one code took every vector and the rest are dead and far away."""
    from encodec.quantization.core_vq import EuclideanCodebook

    torch.manual_seed(0)
    book = EuclideanCodebook(dim=2, codebook_size=8, kmeans_init=False, threshold_ema_dead_code=2)
    centres = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0], [0.0, -3.0]])
    data = (centres[torch.arange(256) % 4] + 0.1 * torch.randn(256, 2))
    embed = torch.full((8, 2), 50.0)
    embed[0] = 0.0
    book.embed.data.copy_(embed)
    sizes = torch.full((8,), 1e-3)
    sizes[0] = 256.0
    book.cluster_size.data.copy_(sizes)
    book.embed_avg.data.copy_(embed * sizes[:, None])
    return book.train(), data


def _codes_used(book, data) -> int:
    return int(torch.unique(book(data[None])[1]).numel())


def test_stock_dead_code_expiry_does_not_revive_codes():
    book, data = _collapsed_codebook()
    for _ in range(5):
        used = _codes_used(book, data)
    assert used == 1, "encodec 0.1.1 expiry is expected to be ineffective; if this fails the package changed"


def test_fixed_dead_code_replacement_revives_codes():
    book, data = _collapsed_codebook()
    book.threshold_ema_dead_code = 0
    used = 0
    for _ in range(5):
        used = _codes_used(book, data)
        replace_dead_codes_(book, data, threshold=2.0, reset=1.0)
    assert used >= 4
    assert float(book.cluster_size.min()) > 0


def test_kmeans_init_uses_many_codes_on_every_level():
    torch.manual_seed(0)
    model = build_small(tiny_config())
    frames = torch.randn(600, 16)
    kmeans_init_(model, frames, iters=5, generator=torch.Generator().manual_seed(0))
    residual = frames
    for layer in model.quantizer.vq.layers:
        codes = layer.encode(residual.t()[None])
        assert torch.unique(codes).numel() >= 32
        assert bool(layer._codebook.inited)
        residual = residual - layer.decode(codes)[0].t()


def test_fan_in_init_makes_encoder_output_depend_on_input():
    torch.manual_seed(0)
    model = build_small(tiny_config())
    a, b = (torch.stack(tones(1, 0.5, seed=s))[:, None] for s in (1, 2))
    with torch.no_grad():
        ea, eb = model.encoder(a), model.encoder(b)
        spread = float(ea.std(dim=-1).mean())
        level = float(ea.abs().mean())
    assert spread > 0.1 * level
    assert float((ea - eb).abs().mean()) > 0.1 * level
    biases = [m.bias for m in model.modules() if isinstance(m, torch.nn.Conv1d) and m.bias is not None]
    assert all(float(b.detach().abs().sum()) == 0 for b in biases)


def test_last_decoder_layer_is_scaled_down():
    torch.manual_seed(0)
    small, big = build_small(tiny_config()), build_small(tiny_config())
    init_weights_(big, last_layer_scale=1.0)
    last = lambda m: [c for c in m.decoder.modules() if isinstance(c, torch.nn.Conv1d)][-1].weight_g.detach().norm()
    assert float(last(small)) < 0.5 * float(last(big))


@pytest.mark.parametrize("lr_decay", [0.0, 0.5])
def test_training_resumes_exactly(tmp_path, lr_decay):
    clips = tones(6, 0.5)
    straight = CodecTrainer(tiny_config(lr_decay=lr_decay), clips, tmp_path / "a")
    straight.train()
    first = CodecTrainer(tiny_config(lr_decay=lr_decay), clips, tmp_path / "b")
    step = first.train_step

    def killed_after_two() -> dict:  # stands in for kill -9 right after the step-2 checkpoint
        if first.step == 2:
            raise KeyboardInterrupt
        return step()

    first.train_step = killed_after_two
    with pytest.raises(KeyboardInterrupt):
        first.train()
    assert (tmp_path / "b" / "state.pt").is_file()
    second = CodecTrainer(tiny_config(lr_decay=lr_decay), clips, tmp_path / "b")
    assert second.resume() and second.step == 2
    second.train()
    a, b = straight.model.state_dict(), second.model.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key


def test_training_reduces_loss_and_writes_logs(tmp_path):
    trainer = CodecTrainer(tiny_config(steps=12, log_every=4), tones(6, 0.5), tmp_path)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.history]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert (tmp_path / "log.jsonl").is_file() and trainer.history[-1]["steps_per_s"] > 0


def test_corrupt_training_state_is_a_data_error(tmp_path):
    (tmp_path / "state.pt").write_bytes(b"garbage")
    trainer = CodecTrainer(tiny_config(), tones(2, 0.5), tmp_path)
    with pytest.raises(DataError):
        trainer.resume()


def test_pretrained_config_refuses_training(tmp_path):
    cfg = tiny_config()
    cfg.pretrained = "official"
    with pytest.raises(DataError):
        CodecTrainer(cfg, tones(2, 0.5), tmp_path)


def test_lr_is_constant_then_decays_linearly(tmp_path):
    trainer = CodecTrainer(tiny_config(lr=1e-3, lr_decay=0.5, lr_min_ratio=0.1), tones(2, 0.5), tmp_path)
    assert trainer.set_lr(0.2) == pytest.approx(1e-3)
    assert trainer.set_lr(0.75) == pytest.approx(5.5e-4)
    assert trainer.set_lr(1.0) == pytest.approx(1e-4)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)
    flat = CodecTrainer(tiny_config(lr=1e-3), tones(2, 0.5), tmp_path / "flat")
    assert flat.set_lr(0.99) == pytest.approx(1e-3)
