"""Positional encoding added to queries and keys (paper part 5).

Fourier features of each cell's (x, y) centre in [-1, 1], mapped to the key width
by a learned linear layer. Defined by coordinates, not by a table, so keys pooled
to a coarser grid (spatial-reduction attention) get encodings that agree with
the queries' at the same place.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

from tiwcli.models.layers import coordinate_grid


class FourierPositionalEncoding(nn.Module):
    def __init__(self, num_frequencies: int, dim: int) -> None:
        super().__init__()
        frequencies = math.pi * 2.0 ** torch.arange(num_frequencies, dtype=torch.float32)
        self.register_buffer("frequencies", frequencies, persistent=False)
        self.project = nn.Linear(4 * num_frequencies, dim)

    def forward(self, size: int) -> torch.Tensor:
        """-> (size * size, dim), cells in row-major (h w) order."""
        grid = rearrange(coordinate_grid(size, self.frequencies.device), "h w xy -> (h w) xy 1")
        angles = rearrange(grid * self.frequencies, "p xy f -> p (xy f)")  # (p, 2f)
        return self.project(torch.cat([angles.sin(), angles.cos()], dim=-1))
