"""Paper part 4: the source encoder.

A few convolutions from the full-resolution source image to the value feature:
(b, 3, H, W) -> (b, d', h, w), halving the resolution until it reaches h.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tiwcli.config import ModelConfig
from tiwcli.models.layers import ConvBlock, ResBlock


class SourceEncoder(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        downsamplings = int(math.log2(config.image_size // config.feature_size))
        widths = [min(config.source_channels * 2**i, 256) for i in range(downsamplings + 1)]
        self.stem = nn.Conv2d(3, widths[0], 7, padding=3)
        self.down = nn.ModuleList(ConvBlock(widths[i], widths[i + 1]) for i in range(downsamplings))
        self.refine = ResBlock(widths[-1])
        self.project = nn.Conv2d(widths[-1], config.value_dim, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: (b, 3, H, W) in [0, 1] -> values (b, d', h, w)."""
        x = self.stem(images * 2 - 1)  # (b, c0, H, W)
        for block in self.down:
            x = block(F.avg_pool2d(x, 2))  # halves the side each time
        return self.project(self.refine(x))
