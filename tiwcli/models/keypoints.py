"""Paper part 1: the keypoint detector.

image -> K keypoints (x, y in [-1, 1]) plus one strength per keypoint in (0, 1).
Positions are the expectation of a spatial softmax over an hourglass's heatmaps
(as in FOMM). Strengths are learned without supervision: a second map per
keypoint, averaged under that keypoint's softmax and squashed by a sigmoid, so
a keypoint can fade when its part is hidden or its expression changes.

Shape letters: b batch, k keypoints, s side of the detector's input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import nn

from tiwcli.config import ModelConfig
from tiwcli.models.layers import UNet, coordinate_grid, resize


@dataclass
class Keypoints:
    positions: torch.Tensor  # (..., k, 2) x, y in [-1, 1]
    strengths: torch.Tensor  # (..., k) in (0, 1)

    def __getitem__(self, index: object) -> Keypoints:
        return Keypoints(self.positions[index], self.strengths[index])

    def to(self, device: torch.device | str) -> Keypoints:
        return Keypoints(self.positions.to(device), self.strengths.to(device))


class KeypointDetector(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.input_size = config.keypoint_input_size
        self.num_keypoints = config.num_keypoints
        self.hourglass = UNet(3, config.keypoint_channels, config.keypoint_depth)
        # k heatmap logits + k strength logits
        self.head = nn.Conv2d(config.keypoint_channels, 2 * config.num_keypoints, 7, padding=3)
        self.temperature = 0.1  # sharpens the softmax, as in FOMM

    def forward(self, images: torch.Tensor) -> Keypoints:
        """images: (b, 3, H, W) in [0, 1]."""
        x = resize(images, self.input_size) * 2 - 1  # (b, 3, s, s)
        heat_logits, strength_logits = self.head(self.hourglass(x)).chunk(2, dim=1)  # (b, k, s, s) each
        weights = rearrange(heat_logits, "b k h w -> b k (h w)").div(self.temperature).softmax(dim=-1)
        grid = rearrange(coordinate_grid(self.input_size, x.device, weights.dtype), "h w xy -> (h w) xy")
        positions = torch.einsum("bkp,pc->bkc", weights, grid)  # (b, k, 2)
        strength = (weights * rearrange(strength_logits, "b k h w -> b k (h w)")).sum(-1)  # (b, k)
        return Keypoints(positions=positions, strengths=torch.sigmoid(strength))
