"""Building blocks shared by the networks: conv blocks, residual blocks, a UNet.

Shape letters: b batch, c channels, s side of a square feature map.
GroupNorm (not BatchNorm) so that a frame's output never depends on its batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def group_norm(channels: int) -> nn.GroupNorm:
    groups = 8 if channels % 8 == 0 else 1
    return nn.GroupNorm(groups, channels)


class ConvBlock(nn.Sequential):
    """3x3 conv -> GroupNorm -> SiLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            group_norm(out_channels),
            nn.SiLU(),
        )


class ResBlock(nn.Module):
    """x + conv(conv(x)), width kept."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvBlock(channels, channels), ConvBlock(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UNet(nn.Module):
    """An hourglass with skip connections: (b, in, s, s) -> (b, channels, s, s).

    Width doubles at each of `depth` downsamplings, capped at `max_channels`.
    """

    def __init__(self, in_channels: int, channels: int, depth: int, max_channels: int = 256) -> None:
        super().__init__()
        widths = [min(channels * 2**level, max_channels) for level in range(depth + 1)]
        self.widths = tuple(widths)  # per level, the outermost first
        self.stem = ConvBlock(in_channels, widths[0])
        self.down = nn.ModuleList(ConvBlock(widths[i], widths[i + 1]) for i in range(depth))
        self.up = nn.ModuleList(
            ConvBlock(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(depth))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (b, c0, s, s)
        skips = []
        for block in self.down:
            skips.append(x)
            x = block(F.avg_pool2d(x, 2))  # (b, c_{i+1}, s / 2^(i+1), ...)
        for block, skip in zip(self.up, reversed(skips), strict=False):
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = block(torch.cat([x, skip], dim=1))
        return x  # (b, c0, s, s)


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (b, c, H, W) to (b, c, size, size); antialiased when shrinking."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    shrinking = images.shape[-1] > size
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=shrinking)


def pixel_centres(
    size: int, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """(size,) the pixel centres along one side in [-1, 1] (align_corners=False)."""
    return (torch.arange(size, device=device, dtype=dtype or torch.float32) * 2 + 1) / size - 1


def coordinate_grid(
    size: int, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Pixel centres of a size x size map in [-1, 1] (align_corners=False): (size, size, 2) as (x, y)."""
    ticks = pixel_centres(size, device, dtype)
    y, x = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([x, y], dim=-1)
