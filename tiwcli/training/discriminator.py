"""Training only: the multi-scale patch discriminator (pix2pixHD, as in face-vid2vid).

One patch GAN per input scale; each returns a map of real/fake scores (one per
patch) and its intermediate features, which the feature-matching loss compares
between real and generated images. Spectral normalisation keeps it Lipschitz.

Shape letters: b batch, c channels, H W image size, s scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


@dataclass
class DiscriminatorOutput:
    scores: list[torch.Tensor]  # per scale: (b, 1, h_s, w_s) patch scores (hinge logits)
    features: list[list[torch.Tensor]]  # per scale: the features of each block


def _conv(
    in_channels: int, out_channels: int, kernel: int, stride: int, use_spectral_norm: bool
) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=1)
    return spectral_norm(conv) if use_spectral_norm else conv


class PatchDiscriminator(nn.Module):
    """Stride-2 blocks (4x4 conv, LeakyReLU), as pix2pixHD, then a 1-channel score map.

    A strided convolution rather than conv + pooling: a quarter of the work, which matters
    when training on a CPU.
    """

    def __init__(
        self, channels: int = 64, blocks: int = 4, max_channels: int = 512, spectral: bool = True
    ) -> None:
        super().__init__()
        widths = [3] + [min(channels * 2**i, max_channels) for i in range(blocks)]
        self.blocks = nn.ModuleList(_conv(widths[i], widths[i + 1], 4, 2, spectral) for i in range(blocks))
        self.score = _conv(widths[-1], 1, 3, 1, spectral)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = images * 2 - 1  # (b, 3, H, W)
        features = []
        for block in self.blocks:
            x = F.leaky_relu(block(x), 0.2)
            features.append(x)  # (b, c_i, H / 2^(i+1), W / 2^(i+1))
        return self.score(x), features


class MultiScaleDiscriminator(nn.Module):
    def __init__(
        self,
        scales: tuple[float, ...] = (1.0, 0.5),
        channels: int = 64,
        blocks: int = 4,
        spectral: bool = True,
    ) -> None:
        super().__init__()
        self.scales = tuple(scales)
        self.discriminators = nn.ModuleList(
            PatchDiscriminator(channels, blocks, spectral=spectral) for _ in self.scales
        )

    def forward(self, images: torch.Tensor) -> DiscriminatorOutput:
        """images: (b, 3, H, W) in [0, 1]."""
        scores, features = [], []
        for scale, discriminator in zip(self.scales, self.discriminators, strict=True):
            scaled = images
            if scale != 1.0:
                scaled = F.interpolate(images, scale_factor=scale, mode="bilinear", antialias=True)
            score, feature = discriminator(scaled)
            scores.append(score)
            features.append(feature)
        return DiscriminatorOutput(scores, features)
