"""Random smooth warps: affine + thin-plate spline (FOMM's `Transform`).

Used by the keypoint equivariance loss (detect keypoints on a warped image, map
them back, compare with the keypoints of the original) and to give still frames
synthetic motion. A warp maps OUTPUT coordinates to INPUT coordinates (the
`grid_sample` convention), both in [-1, 1] with x first.

Shapes: b batch, n points, c TPS control points, H W image size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class RandomWarp:
    affine: Tensor  # (b, 2, 3): identity + noise
    control_points: Tensor  # (c, 2): a regular grid in [-1, 1]
    control_weights: Tensor  # (b, c): TPS weights

    @classmethod
    def sample(
        cls,
        batch: int,
        affine_sigma: float,
        tps_sigma: float,
        tps_points: int = 5,
        device: torch.device | str = "cpu",
        generator: torch.Generator | None = None,
    ) -> RandomWarp:
        noise = torch.randn(batch, 2, 3, generator=generator, device=device) * affine_sigma
        affine = torch.eye(2, 3, device=device) + noise
        axis = torch.linspace(-1, 1, tps_points, device=device)
        y, x = torch.meshgrid(axis, axis, indexing="ij")
        control_points = torch.stack([x.flatten(), y.flatten()], dim=-1)  # (c, 2)
        weights = torch.randn(batch, tps_points**2, generator=generator, device=device) * tps_sigma
        return cls(affine, control_points, weights)

    def warp_coordinates(self, points: Tensor) -> Tensor:
        """Map (b, n, 2) output coordinates to the input coordinates they sample."""
        affine = self.affine.to(points.dtype)
        mapped = torch.einsum("bij,bnj->bni", affine[:, :, :2], points) + affine[:, None, :, 2]
        # TPS radial basis on the L1 distance, the same offset for x and y (as in FOMM)
        distances = (points[:, :, None, :] - self.control_points.to(points.dtype)).abs().sum(-1)  # (b, n, c)
        basis = distances**2 * torch.log(distances + 1e-6)
        offset = (basis * self.control_weights[:, None, :].to(points.dtype)).sum(-1)  # (b, n)
        return mapped + offset[..., None]

    def warp_images(self, images: Tensor) -> Tensor:
        """Warp (b, C, H, W) images; outside the frame is filled by reflection."""
        b, _, height, width = images.shape
        grid = _pixel_grid(height, width, images.device, images.dtype).expand(b, -1, -1)  # (b, H*W, 2)
        sampling = self.warp_coordinates(grid).reshape(b, height, width, 2)
        return F.grid_sample(images, sampling, padding_mode="reflection", align_corners=False)


def _pixel_grid(height: int, width: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """(1, H*W, 2) pixel centres in [-1, 1], x first (align_corners=False convention)."""
    ys = (torch.arange(height, device=device, dtype=dtype) + 0.5) / height * 2 - 1
    xs = (torch.arange(width, device=device, dtype=dtype) + 0.5) / width * 2 - 1
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([x, y], dim=-1).reshape(1, -1, 2)
