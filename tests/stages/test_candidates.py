"""Best of K semantic draws: the text gain is each draw's log-likelihood ratio, and the kept draw maximises it."""
import pytest
import torch
import torch.nn.functional as F

from stages import Stage
from stages.candidates import keep_best, text_gain
from stages.layout_registry import make_layout
from stages.sampling import generate_semantic

from .synthetic import tiny_model_config, tiny_spec


def _semantic() -> Stage:
    torch.manual_seed(0)
    return Stage.build(tiny_model_config(), make_layout("semantic", tiny_spec(), 0.4))


def _log_likelihood(model, prefix: torch.Tensor, target: torch.Tensor, span: tuple[int, int]) -> torch.Tensor:
    """Sum of log p(target token | everything before it), one uncached forward per token (the slow, obvious way)."""
    model.eval()
    total = torch.zeros(prefix.shape[0])
    for i in range(target.shape[1]):
        logits = model(torch.cat([prefix, target[:, :i]], 1))[:, -1, span[0]:span[1]]
        total += F.log_softmax(logits.float(), -1).gather(-1, target[:, i:i + 1] - span[0]).squeeze(-1)
    return total


def test_text_gain_is_the_log_likelihood_ratio_of_the_draw():
    st = _semantic()
    cond = torch.tensor([[0, 1, 2], [4, 3, 2]])
    n = st.layout.crop_tokens
    head, uncond = st.layout.prefix(cond, None, n), st.layout.prefix(cond, None, n, uncond=True)
    span = st.layout.target_span(0)
    target = torch.randint(span[0], span[1], (2, n), generator=torch.Generator().manual_seed(3))
    want = _log_likelihood(st.model, head, target, span) - _log_likelihood(st.model, uncond, target, span)
    got = text_gain(st.model, head, uncond, target, span)
    assert got.shape == (2,)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="must agree"):
        text_gain(st.model, head, uncond[:, 1:], target, span)


def test_keep_best_takes_the_highest_gain_of_each_group():
    draws = torch.arange(12).view(6, 2)
    gain = torch.tensor([0.1, 0.9, 0.5, -1.0, -3.0, -2.0])
    assert keep_best(draws, gain, 3).tolist() == [[2, 3], [6, 7]]
    with pytest.raises(ValueError, match="groups of 4"):
        keep_best(draws, gain, 4)


@pytest.mark.parametrize("prefix", [None, torch.tensor([[3, 4, 5], [6, 7, 8]])])
def test_best_of_k_keeps_the_draw_the_text_explains_best(prefix):
    st = _semantic()
    cond = torch.tensor([[0, 1, 2], [4, 3, 2]])
    k, n = 4, 6
    kw = dict(temperature=1.0, cfg_scale=2.0, prefix=prefix)
    kept = generate_semantic(st.model, st.layout, cond, n, candidates=k, generator=torch.Generator().manual_seed(5), **kw)
    # The same generator state draws the same K candidates per row when the rows are repeated by hand.
    rep_prefix = None if prefix is None else prefix.repeat_interleave(k, 0)
    draws = generate_semantic(st.model, st.layout, cond.repeat_interleave(k, 0), n,
                              generator=torch.Generator().manual_seed(5), **{**kw, "prefix": rep_prefix})
    t0 = 0 if prefix is None else prefix.shape[1]
    head = st.layout.prefix(cond.repeat_interleave(k, 0), None, t0 + n)
    uncond = st.layout.prefix(cond.repeat_interleave(k, 0), None, t0 + n, uncond=True)
    if rep_prefix is not None:
        cont = st.layout.flatten(rep_prefix)
        head, uncond = torch.cat([head, cont], 1), torch.cat([uncond, cont], 1)
    span = st.layout.target_span(t0)
    flat = st.layout.flatten(draws)
    gains = (_log_likelihood(st.model, head, flat, span) - _log_likelihood(st.model, uncond, flat, span)).view(2, k)
    assert kept.shape == (2, n)
    assert torch.equal(kept, draws.view(2, k, n)[torch.arange(2), gains.argmax(1)])
    assert len({tuple(r) for r in draws.tolist()}) > 2  # the candidates differ, so the choice is a real one
    with pytest.raises(ValueError, match="candidates"):
        generate_semantic(st.model, st.layout, cond, n, candidates=0)
