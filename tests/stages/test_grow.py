"""Depth growth keeps a trained stage's output exactly, and its new blocks can learn."""
from dataclasses import replace

import pytest
import torch

from stages.grow import grow_depth
from stages.transformer import Transformer

from .synthetic import tiny_model_config


def _trained_like(layers: int, vocab: int = 30) -> Transformer:
    torch.manual_seed(0)
    model = Transformer(replace(tiny_model_config(), n_layers=layers), vocab_size=vocab)
    with torch.no_grad():  # a fresh model's output projections are near zero; make every block matter
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


@pytest.mark.parametrize("old, new", [(2, 4), (2, 5), (3, 3)])
def test_grown_model_computes_the_same_logits(old, new):
    small = _trained_like(old)
    big = Transformer(replace(tiny_model_config(), n_layers=new), vocab_size=30).eval()
    big.load_state_dict(grow_depth(small.state_dict(), old, new))
    x = torch.randint(0, 30, (2, 17))
    torch.testing.assert_close(big(x), small(x), rtol=1e-5, atol=1e-5)
    cache = big.new_cache(2, 17)
    stepped = torch.cat([big(x[:, :9], cache, 0)] + [big(x[:, i:i + 1], cache, i) for i in range(9, 17)], 1)
    torch.testing.assert_close(stepped, small(x), rtol=1e-5, atol=1e-5)


def test_repeated_blocks_start_silent_but_receive_gradient():
    small = _trained_like(2)
    big = Transformer(replace(tiny_model_config(), n_layers=4), vocab_size=30)
    big.load_state_dict(grow_depth(small.state_dict(), 2, 4))
    assert torch.count_nonzero(big.blocks[1].mlp.down.weight) == 0
    assert torch.equal(big.blocks[1].mlp.up.weight, small.blocks[0].mlp.up.weight)
    x = torch.randint(0, 30, (2, 12))
    torch.nn.functional.cross_entropy(big(x)[:, :-1].reshape(-1, 30), x[:, 1:].reshape(-1)).backward()
    for block in (big.blocks[1], big.blocks[3]):
        assert block.mlp.down.weight.grad.abs().sum() > 0
        assert block.attn.proj.weight.grad.abs().sum() > 0


def test_growth_cannot_shrink():
    with pytest.raises(ValueError, match="cannot grow"):
        grow_depth(_trained_like(3).state_dict(), 3, 2)
