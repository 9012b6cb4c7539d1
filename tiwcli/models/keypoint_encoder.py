"""Paper part 3: the keypoint encoders, UNets + a per-pixel linear projection.

- query encoder: UNet(driving heatmaps)                       -> (b, d, h, w)
- key encoder:   UNet(concat(source heatmaps, source image))  -> (b, d, h, w), once per source

Both run at the feature resolution h = w = config.feature_size.
"""

from __future__ import annotations

import torch
from torch import nn

from tiwcli.config import ModelConfig
from tiwcli.models.layers import UNet


class KeypointEncoder(nn.Module):
    """(b, in_channels, h, w) -> (b, key_dim, h, w)."""

    def __init__(self, in_channels: int, config: ModelConfig) -> None:
        super().__init__()
        self.unet = UNet(in_channels, config.encoder_channels, config.encoder_depth)
        self.project = nn.Conv2d(config.encoder_channels, config.key_dim, 1)  # per-pixel linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.unet(x))


def query_encoder(config: ModelConfig) -> KeypointEncoder:
    """Reads the driving heatmaps only."""
    return KeypointEncoder(config.num_keypoints, config)


def key_encoder(config: ModelConfig) -> KeypointEncoder:
    """Reads a source's heatmaps and the source image (RGB) at feature resolution."""
    return KeypointEncoder(config.num_keypoints + 3, config)
