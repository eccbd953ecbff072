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
    sources = [j * old_layers // new_layers for j in range(new_layers)]
    grown: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _BLOCK_KEY.fullmatch(key)
        if match is None:
            grown[key] = value.clone()
            continue
        src, name = int(match[1]), match[2]
        for j in (j for j, s in enumerate(sources) if s == src):
            repeat = j > 0 and sources[j - 1] == src
            grown[f"blocks.{j}.{name}"] = torch.zeros_like(value) if repeat and name in _OUTPUT_PROJECTIONS \
                else value.clone()
    return grown
