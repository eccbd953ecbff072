"""Depth growth: a trained stage's weights in a deeper model of the same width that computes the same function."""
from __future__ import annotations

import re

import torch

_BLOCK_KEY = re.compile(r"blocks\.(\d+)\.(.+)")
# Each block adds its attention and MLP outputs to the residual stream through these two projections only.
_OUTPUT_PROJECTIONS = ("attn.proj.weight", "mlp.down.weight")


def grow_depth(state: dict[str, torch.Tensor], old_layers: int, new_layers: int) -> dict[str, torch.Tensor]:
    """The state dict of a `new_layers`-block model equal in function to the `old_layers`-block `state`: new block j
    copies old block j * old_layers // new_layers, and every repeat has its output projections zeroed."""
    if new_layers < old_layers:
        raise ValueError(f"cannot grow {old_layers} blocks into {new_layers}")
    grown = {k: v.clone() for k, v in state.items() if not _BLOCK_KEY.fullmatch(k)}
    for j in range(new_layers):
        src = j * old_layers // new_layers
        repeat = j > 0 and (j - 1) * old_layers // new_layers == src
        prefix = f"blocks.{src}."
        for key, value in state.items():
            if not key.startswith(prefix):
                continue
            name = key[len(prefix):]
            grown[f"blocks.{j}.{name}"] = torch.zeros_like(value) if repeat and name in _OUTPUT_PROJECTIONS \
                else value.clone()
    return grown
