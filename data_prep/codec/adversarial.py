"""EnCodec's adversarial terms: the package's multi-scale STFT discriminator, hinge losses and feature matching."""
from __future__ import annotations

import torch
from torch import nn


def build_discriminator(filters: int) -> nn.Module:
    """encodec's MS-STFT discriminator (STFT sizes 512/1024/2048) with `filters` channels per layer."""
    from encodec.msstftd import MultiScaleSTFTDiscriminator

    return MultiScaleSTFTDiscriminator(filters=filters)


def discriminator_loss(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the discriminator on [B, T] real and (detached) generated audio, averaged over scales."""
    real_logits, _ = disc(real[:, None])
    fake_logits, _ = disc(fake.detach()[:, None])
    terms = [torch.relu(1 - r).mean() + torch.relu(1 + f).mean() for r, f in zip(real_logits, fake_logits)]
    return torch.stack(terms).mean()


def generator_losses(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(hinge adversarial loss, feature-matching loss) of generated audio; feature matching is the L1 distance of every
    discriminator layer's activations on real vs generated audio, relative to the real activations' mean magnitude."""
    with torch.no_grad():
        _, real_maps = disc(real[:, None])
    fake_logits, fake_maps = disc(fake[:, None])
    adv = torch.stack([torch.relu(1 - f).mean() for f in fake_logits]).mean()
    feat = [(fm - rm).abs().mean() / (rm.abs().mean() + 1e-8)
            for fake_scale, real_scale in zip(fake_maps, real_maps) for fm, rm in zip(fake_scale, real_scale)]
    return adv, torch.stack(feat).mean()
