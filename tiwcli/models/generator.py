"""Paper part 6: the generator.

Decodes the warped feature (b, d', h, w) back to an RGB image (b, 3, H, W) in
[0, 1]: residual blocks at feature resolution, then one 2x upsampling block per
octave between h and H. With the full-resolution warp it also outputs a blend mask
(b, 1, H, W), initialised toward the warped sources (sigmoid(2) = 0.88).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tiwcli.config import ModelConfig
from tiwcli.models.layers import ConvBlock, ResBlock

MASK_INIT_LOGIT = 2.0  # the blend mask starts at 0.88: mostly the warped sources


@dataclass
class GeneratorOutput:
    image: torch.Tensor  # (b, 3, H, W) in [0, 1]
    mask: torch.Tensor | None  # (b, 1, H, W) in [0, 1], 1 = warped sources; None without the warp


class Generator(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        upsamplings = int(math.log2(config.image_size // config.feature_size))
        widths = [min(config.generator_channels * 2**i, 256) for i in reversed(range(upsamplings + 1))]
        self.stem = nn.Conv2d(config.value_dim, widths[0], 3, padding=1)
        self.blocks = nn.Sequential(*(ResBlock(widths[0]) for _ in range(config.generator_blocks)))
        self.up = nn.ModuleList(ConvBlock(widths[i], widths[i + 1]) for i in range(upsamplings))
        self.with_mask = config.full_resolution_warp
        self.to_rgb = nn.Conv2d(widths[-1], 4 if self.with_mask else 3, 7, padding=3)
        if self.with_mask:
            with torch.no_grad():
                self.to_rgb.bias[3] = MASK_INIT_LOGIT

    def forward(self, feature: torch.Tensor) -> GeneratorOutput:
        x = self.blocks(self.stem(feature))  # (b, c0, h, w)
        for block in self.up:
            x = block(F.interpolate(x, scale_factor=2.0, mode="nearest"))  # doubles the side
        out = torch.sigmoid(self.to_rgb(x))  # (b, 3 or 4, H, W)
        return GeneratorOutput(image=out[:, :3], mask=out[:, 3:] if self.with_mask else None)
