"""Paper part 2: the spatial keypoint representation.

One 2-D Gaussian heatmap per keypoint, multiplied by its strength: (b, k, s, s).
Everything downstream of the keypoint encoders is independent of K.
"""

from __future__ import annotations

import torch
from einops import rearrange

from tiwcli.models.keypoints import Keypoints
from tiwcli.models.layers import coordinate_grid


def keypoint_heatmaps(keypoints: Keypoints, size: int, sigma: float) -> torch.Tensor:
    """Keypoints with positions (b, k, 2) -> strength-scaled Gaussians (b, k, size, size)."""
    grid = coordinate_grid(size, keypoints.positions.device, keypoints.positions.dtype)  # (s, s, 2)
    offsets = rearrange(grid, "h w xy -> 1 1 h w xy") - rearrange(keypoints.positions, "b k xy -> b k 1 1 xy")
    gaussians = torch.exp(-offsets.pow(2).sum(-1) / (2 * sigma**2))  # (b, k, s, s)
    return gaussians * rearrange(keypoints.strengths, "b k -> b k 1 1")
