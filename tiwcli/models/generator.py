"""Paper part 6: the generator.

Decodes the warped feature (b, d', h, w) back to an RGB image (b, 3, H, W) in
[0, 1]: residual blocks at feature resolution, then one 2x upsampling block per
octave between h and H.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tiwcli.config import ModelConfig
from tiwcli.models.layers import ConvBlock, ResBlock


class Generator(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        upsamplings = int(math.log2(config.image_size // config.feature_size))
        widths = [min(config.generator_channels * 2**i, 256) for i in reversed(range(upsamplings + 1))]
        self.stem = nn.Conv2d(config.value_dim, widths[0], 3, padding=1)
        self.blocks = nn.Sequential(*(ResBlock(widths[0]) for _ in range(config.generator_blocks)))
        self.up = nn.ModuleList(ConvBlock(widths[i], widths[i + 1]) for i in range(upsamplings))
        self.to_rgb = nn.Conv2d(widths[-1], 3, 7, padding=3)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(feature))  # (b, c0, h, w)
        for block in self.up:
            x = block(F.interpolate(x, scale_factor=2.0, mode="nearest"))  # doubles the side
        return torch.sigmoid(self.to_rgb(x))  # (b, 3, H, W)
