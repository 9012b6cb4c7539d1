"""A timing stand-in for FOMM (Siarohin et al., NeurIPS 2019), vox-256 configuration.

Written here from the paper and the published vox-256 configuration (keypoint detector: hourglass,
block expansion 32, max 1024 features, 5 blocks, on a 4x smaller image, 10 keypoints with
jacobians; generator: block expansion 64, max 512 features, 2 down blocks, 6 bottleneck residual
blocks, occlusion map; dense motion: hourglass, block expansion 64, max 1024 features, 5 blocks, on
a 4x smaller image). Same layers, shapes and per-frame work as FOMM's demo (the driving frame's
keypoints, then the generator, which encodes the source again each frame), random weights: it is
for timing only, and its parameter and FLOP counts are printed next to the published ones (59.8 M,
110 GFLOP a frame) so that anyone can check it is the same network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

NUM_KEYPOINTS = 10
KEYPOINT_VARIANCE = 0.01
TEMPERATURE = 0.1


def coordinate_grid(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """(H, W, 2) x, y in [-1, 1]."""
    ys = torch.linspace(-1, 1, height, dtype=like.dtype, device=like.device)
    xs = torch.linspace(-1, 1, width, dtype=like.dtype, device=like.device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1)


class ConvNormRelu(nn.Sequential):
    def __init__(self, channels_in: int, channels_out: int, kernel: int = 3):
        super().__init__(
            nn.Conv2d(channels_in, channels_out, kernel, padding=kernel // 2),
            nn.BatchNorm2d(channels_out),
            nn.ReLU(),
        )


class Down(nn.Sequential):
    def __init__(self, channels_in: int, channels_out: int):
        super().__init__(ConvNormRelu(channels_in, channels_out), nn.AvgPool2d(2))


class Up(nn.Module):
    def __init__(self, channels_in: int, channels_out: int):
        super().__init__()
        self.block = ConvNormRelu(channels_in, channels_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(F.interpolate(x, scale_factor=2.0))


class Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Hourglass(nn.Module):
    """U-Net: `blocks` halvings (widths expansion * 2^(i+1), capped), then back up with skips."""

    def __init__(self, expansion: int, channels_in: int, blocks: int, max_features: int):
        super().__init__()
        widths = [min(max_features, expansion * 2 ** (i + 1)) for i in range(blocks)]
        self.downs = nn.ModuleList(
            Down(c_in, c_out) for c_in, c_out in zip([channels_in, *widths[:-1]], widths, strict=True)
        )
        ups = []
        for i in reversed(range(blocks)):
            c_in = widths[i] * (1 if i == blocks - 1 else 2)
            ups.append(Up(c_in, min(max_features, expansion * 2**i)))
        self.ups = nn.ModuleList(ups)
        self.channels_out = expansion + channels_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [x]
        for down in self.downs:
            skips.append(down(skips[-1]))
        out = skips.pop()
        for up in self.ups:
            out = torch.cat([up(out), skips.pop()], dim=1)
        return out


class AntiAliasDown(nn.Module):
    """Gaussian blur then nearest subsampling by `scale` (FOMM's band-limited downsampling)."""

    def __init__(self, channels: int, scale: float):
        super().__init__()
        sigma = (1 / scale - 1) / 2
        size = 2 * round(sigma * 4) + 1
        ax = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
        kernel_1d = torch.exp(-(ax**2) / (2 * sigma**2))
        kernel = torch.outer(kernel_1d, kernel_1d)
        kernel = kernel / kernel.sum()
        self.register_buffer("kernel", repeat(kernel, "h w -> c 1 h w", c=channels))
        self.pad, self.scale, self.channels = size // 2, scale, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(F.pad(x, (self.pad,) * 4), self.kernel, groups=self.channels)
        return F.interpolate(x, scale_factor=self.scale)


class KeypointDetector(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = AntiAliasDown(3, 0.25)
        self.hourglass = Hourglass(32, 3, blocks=5, max_features=1024)
        self.heatmap = nn.Conv2d(self.hourglass.channels_out, NUM_KEYPOINTS, 7)
        self.jacobian = nn.Conv2d(self.hourglass.channels_out, 4 * NUM_KEYPOINTS, 7)
        nn.init.zeros_(self.jacobian.weight)  # as in the paper: each jacobian starts as the identity
        with torch.no_grad():
            self.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0]).repeat(NUM_KEYPOINTS))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, 256, 256) -> keypoints (B, K, 2), jacobians (B, K, 2, 2)."""
        features = self.hourglass(self.down(image))
        logits = self.heatmap(features)  # (B, K, 58, 58)
        height, width = logits.shape[-2:]
        heat = F.softmax(rearrange(logits, "b k h w -> b k (h w)") / TEMPERATURE, dim=-1)
        grid = rearrange(coordinate_grid(height, width, logits), "h w two -> (h w) two")
        keypoints = heat @ grid
        jacobian_maps = rearrange(self.jacobian(features), "b (k four) h w -> b k four (h w)", four=4)
        jacobians = torch.einsum("bkn,bkfn->bkf", heat, jacobian_maps)
        return keypoints, rearrange(jacobians, "b k (i j) -> b k i j", i=2)


class DenseMotion(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = AntiAliasDown(3, 0.25)
        channels_in = (NUM_KEYPOINTS + 1) * 4
        self.hourglass = Hourglass(64, channels_in, blocks=5, max_features=1024)
        self.mask = nn.Conv2d(self.hourglass.channels_out, NUM_KEYPOINTS + 1, 7, padding=3)
        self.occlusion = nn.Conv2d(self.hourglass.channels_out, 1, 7, padding=3)

    def forward(self, source, kp_source, jac_source, kp_driving, jac_driving):
        """-> deformation (B, h, w, 2) and occlusion (B, 1, h, w), at a quarter of the image."""
        small = self.down(source)
        batch, _, height, width = small.shape
        grid = coordinate_grid(height, width, small)  # (h, w, 2)

        def gaussians(points: torch.Tensor) -> torch.Tensor:
            offsets = grid[None, None] - points[:, :, None, None]
            return torch.exp(-0.5 * (offsets**2).sum(-1) / KEYPOINT_VARIANCE)

        heat = gaussians(kp_driving) - gaussians(kp_source)  # (B, K, h, w)
        heat = torch.cat([torch.zeros_like(heat[:, :1]), heat], dim=1)
        affine = jac_source @ torch.linalg.inv(jac_driving)  # (B, K, 2, 2)
        relative = grid[None, None] - kp_driving[:, :, None, None]  # (B, K, h, w, 2)
        moved = torch.einsum("bkij,bkhwj->bkhwi", affine, relative) + kp_source[:, :, None, None]
        motions = torch.cat([repeat(grid, "h w two -> b 1 h w two", b=batch), moved], dim=1)
        warped = F.grid_sample(
            repeat(small, "b c h w -> (b k) c h w", k=NUM_KEYPOINTS + 1),
            rearrange(motions, "b k h w two -> (b k) h w two"),
            align_corners=True,
        )
        warped = rearrange(warped, "(b k) c h w -> b k c h w", b=batch)
        stacked = torch.cat([heat[:, :, None], warped], dim=2)
        features = self.hourglass(rearrange(stacked, "b k c h w -> b (k c) h w"))
        mask = F.softmax(self.mask(features), dim=1)
        deformation = torch.einsum("bkhwt,bkhw->bhwt", motions, mask)
        return deformation, torch.sigmoid(self.occlusion(features))


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense_motion = DenseMotion()
        self.first = ConvNormRelu(3, 64, kernel=7)
        self.downs = nn.Sequential(Down(64, 128), Down(128, 256))
        self.bottleneck = nn.Sequential(*(Residual(256) for _ in range(6)))
        self.ups = nn.Sequential(Up(256, 128), Up(128, 64))
        self.final = nn.Conv2d(64, 3, 7, padding=3)

    def forward(self, source, kp_source, jac_source, kp_driving, jac_driving) -> torch.Tensor:
        features = self.downs(self.first(source))  # (B, 256, 64, 64)
        deformation, occlusion = self.dense_motion(source, kp_source, jac_source, kp_driving, jac_driving)
        features = F.grid_sample(features, deformation, align_corners=True) * occlusion
        return torch.sigmoid(self.final(self.ups(self.bottleneck(features))))


class Fomm(nn.Module):
    """FOMM's per-frame work at inference: the driving frame's keypoints, then the generator."""

    def __init__(self):
        super().__init__()
        self.keypoints = KeypointDetector()
        self.generator = Generator()

    def source_keypoints(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.keypoints(source)

    def forward(self, source, kp_source, jac_source, driving) -> torch.Tensor:
        kp_driving, jac_driving = self.keypoints(driving)
        return self.generator(source, kp_source, jac_source, kp_driving, jac_driving)
