"""The transformer: KV-cache decoding equals full recomputation, and a tiny stage overfits."""
import torch

from stages.batches import lm_loss, sample_batch
from stages.layout_registry import make_layout
from stages.transformer import Transformer

from .synthetic import tiny_model_config, tiny_records, tiny_spec


def test_kv_cache_logits_match_full_recompute():
    torch.manual_seed(0)
    model = Transformer(tiny_model_config(), vocab_size=40).eval()
    x = torch.randint(0, 40, (3, 30))
    full = model(x)
    cache = model.new_cache(3, 30)
    parts = [model(x[:, :11], cache, 0), model(x[:, 11:17], cache, 11)]
    parts += [model(x[:, i:i + 1], cache, i) for i in range(17, 30)]
    incremental = torch.cat(parts, 1)
    assert cache.length == 30
    torch.testing.assert_close(incremental, full, rtol=1e-5, atol=1e-5)


def test_kv_cache_overflow_is_an_error():
    model = Transformer(tiny_model_config(), vocab_size=10).eval()
    cache = model.new_cache(1, 4)
    try:
        model(torch.zeros(1, 5, dtype=torch.long), cache, 0)
    except ValueError as exc:
        assert "overflow" in str(exc)
    else:
        raise AssertionError("expected overflow")


def test_tied_weights_and_dropout_only_in_training():
    model = Transformer(tiny_model_config(dropout=0.5), vocab_size=20)
    assert model.head.weight is model.embed.weight
    x = torch.randint(0, 20, (2, 8))
    model.eval()
    torch.testing.assert_close(model(x), model(x))
    model.train()
    assert not torch.allclose(model(x), model(x))


def test_tiny_stage_overfits_a_handful_of_sequences():
    torch.manual_seed(0)
    token_spec = tiny_spec()
    layout = make_layout("coarse", token_spec, crop_seconds=0.2)
    records = tiny_records(4, seconds=0.2, token_spec=token_spec)
    model = Transformer(tiny_model_config(), layout.vocab.size)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    for _ in range(150):
        tokens, mask = sample_batch(layout, records, 8, gen)
        loss = lm_loss(model, tokens, mask, layout)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    tokens, mask = sample_batch(layout, records, 8, gen)
    with torch.no_grad():
        assert float(lm_loss(model, tokens, mask, layout)) < 0.05


def test_selected_positions_and_vocab_slices_equal_full_logits():
    torch.manual_seed(0)
    model = Transformer(tiny_model_config(), vocab_size=30).eval()
    x = torch.randint(0, 30, (2, 9))
    select = torch.rand(2, 9) > 0.5
    full = model(x)
    torch.testing.assert_close(model(x, select=select, vocab_range=(7, 19)), full[select][:, 7:19])


def test_level_restricted_loss_equals_cross_entropy_over_each_level_span():
    torch.manual_seed(0)
    token_spec = tiny_spec()
    layout = make_layout("coarse", token_spec, crop_seconds=0.2)
    model = Transformer(tiny_model_config(), layout.vocab.size).eval()
    tokens, mask = sample_batch(layout, tiny_records(3, 1.0, token_spec), 3, torch.Generator().manual_seed(0))
    logits = model(tokens[:, :-1])
    losses = []
    for b in range(tokens.shape[0]):
        first = int(mask[b].nonzero()[0])
        for t in range(first, tokens.shape[1]):
            if mask[b, t]:
                lo, hi = layout.target_span(t - first)
                losses.append(-logits[b, t - 1, lo:hi].log_softmax(-1)[tokens[b, t] - lo])
    torch.testing.assert_close(lm_loss(model, tokens, mask, layout), torch.stack(losses).mean())
