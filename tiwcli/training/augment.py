"""Training augmentation, drawn once per sample and applied alike to all its frames.

Sources and driving frame of one sample must stay consistent (same flip, same
colours), or the model would learn to change colours instead of motion.
Time flip is not needed: frames are drawn as an unordered random set.

Shapes: f frames of one sample (sources + driving), H W image size.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tiwcli.training.warps import RandomWarp

_GRAY = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601 luma


def _uniform(low: float, high: float, generator: torch.Generator, size: int = 1) -> Tensor:
    return low + (high - low) * torch.rand(size, generator=generator)


def augment_sample(
    frames: Tensor, flip_probability: float, jitter: float, generator: torch.Generator
) -> Tensor:
    """Flip and colour-jitter (f, 3, H, W) float frames in [0, 1], the same for every frame."""
    return augment_with_landmarks(frames, None, flip_probability, jitter, generator)[0]


def augment_with_landmarks(
    frames: Tensor,
    landmarks: Tensor | None,  # (f, L, 2) x, y in [-1, 1], NaN where unknown
    flip_probability: float,
    jitter: float,
    generator: torch.Generator,
    mirror: tuple[int, ...] = (),  # landmark order after a flip (left and right swap names)
) -> tuple[Tensor, Tensor | None]:
    """`augment_sample` that also flips the landmarks (same random draws, same frames)."""
    if torch.rand(1, generator=generator).item() < flip_probability:
        frames = frames.flip(-1)
        if landmarks is not None:
            landmarks = landmarks[:, list(mirror)] * torch.tensor([-1.0, 1.0])
    if jitter > 0:
        brightness = _uniform(-jitter, jitter, generator)
        contrast = _uniform(1 - jitter, 1 + jitter, generator)
        saturation = _uniform(1 - jitter, 1 + jitter, generator)
        gain = _uniform(1 - jitter / 2, 1 + jitter / 2, generator, 3).view(1, 3, 1, 1)
        gray = torch.einsum("fchw,c->fhw", frames, _GRAY.to(frames))[:, None]  # (f, 1, H, W)
        frames = gray + (frames - gray) * saturation
        mean = frames.mean(dim=(1, 2, 3), keepdim=True)
        frames = (frames - mean) * contrast + mean + brightness
        frames = frames * gain
    return frames.clamp(0, 1), landmarks


def still_motion(frame: Tensor, count: int, generator: torch.Generator, strength: float = 0.08) -> Tensor:
    """`count` random smooth warps of one (3, H, W) frame: synthetic motion of a still portrait."""
    warp = RandomWarp.sample(count, affine_sigma=strength, tps_sigma=strength / 10, generator=generator)
    return warp.warp_images(frame[None].expand(count, -1, -1, -1)).clamp(0, 1)  # (count, 3, H, W)
