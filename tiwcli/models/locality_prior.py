"""Locality prior on the attention logits (our addition; off in the paper's presets).

    bias[q, m] = -|q_xy - k_xy|^2 / (2 sigma^2)      for source entries m
    bias[q, m] = EXTRA_LOGIT                          for the learned extra K/V

Untrained, Q K^T is near zero, so the attention is nearly uniform and the expected
source position of every query is the source's centre: the warp is a flat colour,
and a network that never sees the warp work learns to route around it. With this
prior the untrained attention is a small Gaussian around the query's own position,
so the initial warp is the identity ("copy the source") and training learns the
departures from it; Q K^T grows as large as it needs to move pixels further.

Shape letters: q = h*w queries, m = extras + n * (h/r)*(w/r) source entries.
"""

from __future__ import annotations

import functools

import torch
from einops import rearrange

from tiwcli.models.layers import coordinate_grid

EXTRA_LOGIT = -4.0  # the extras start with ~1% of the mass: present, not dominant


@functools.lru_cache(maxsize=16)  # the same few (sources, device) for a whole animation
def locality_bias(
    feature_size: int,
    reduction: int,
    num_sources: int,
    num_extra: int,
    sigma_cells: float,
    device: torch.device | None = None,
) -> torch.Tensor:
    """-> (q, m) float logits bias; sigma in query feature cells. Cached: callers must not modify it."""
    sigma = sigma_cells * 2 / feature_size  # in [-1, 1] units
    queries = rearrange(coordinate_grid(feature_size, device), "h w xy -> (h w) xy")  # (q, 2)
    keys = rearrange(coordinate_grid(feature_size // reduction, device), "h w xy -> (h w) xy")  # (p, 2)
    distance2 = torch.cdist(queries, keys).square()  # (q, p)
    bias = (-distance2 / (2 * sigma**2)).repeat(1, num_sources)  # (q, n p)
    extras = torch.full((queries.shape[0], num_extra), EXTRA_LOGIT, device=device)
    return torch.cat([extras, bias], dim=1)  # (q, m)
