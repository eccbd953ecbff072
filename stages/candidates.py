"""Best of K semantic draws: keep the draw the conditioning explains best.

A draw's text gain is log p(draw | conditioning) - log p(draw | MASK), summed over its tokens under the unguided
model: the pointwise mutual information of draw and conditioning. Sampling with classifier-free guidance pushes every
token towards the text and, pushed harder, turns the audio noisy; ranking whole draws keeps each candidate an ordinary
guided sample and only chooses among them: of a prompt's draws, the one that kept what the text asks for (drums,
say) wins over one that lost it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .transformer import Transformer


@torch.no_grad()
def text_gain(model: Transformer, head: torch.Tensor, uncond: torch.Tensor, target: torch.Tensor,
              vocab_range: tuple[int, int]) -> torch.Tensor:
    """Per row, sum of log p(target | head) - log p(target | uncond) [B]; target [B,N] are joint ids in vocab_range."""
    if head.shape != uncond.shape or head.shape[0] != target.shape[0]:
        raise ValueError(f"head {tuple(head.shape)}, uncond {tuple(uncond.shape)} and target {tuple(target.shape)} "
                         "must agree in rows (and the prefixes in length)")
    was_training = model.training
    model.eval()
    device = model.embed.weight.device
    try:
        b, p = head.shape
        n = target.shape[1]
        rows = torch.cat([torch.cat([head, target], 1), torch.cat([uncond, target], 1)]).to(device)
        # The logits at positions p-1 .. p+n-2 predict the n target tokens.
        logits = model(rows[:, :p + n - 1], vocab_range=vocab_range)[:, p - 1:]
        logp = F.log_softmax(logits.float(), -1)
        ids = (target.to(device) - vocab_range[0]).repeat(2, 1)
        picked = logp.gather(-1, ids[..., None]).squeeze(-1).sum(-1)
    finally:
        model.train(was_training)
    return (picked[:b] - picked[b:]).cpu()


def keep_best(draws: torch.Tensor, gain: torch.Tensor, candidates: int) -> torch.Tensor:
    """From draws [B*K,...] in groups of K consecutive rows, the row of each group with the highest gain -> [B,...]."""
    if draws.shape[0] % candidates or gain.shape != (draws.shape[0],):
        raise ValueError(f"{draws.shape[0]} draws and {tuple(gain.shape)} gains do not form groups of {candidates}")
    best = gain.view(-1, candidates).argmax(1)
    return draws.view(-1, candidates, *draws.shape[1:])[torch.arange(best.shape[0]), best]
