"""Frames as the I/O side holds them ((..., H, W, 3) uint8 RGB) and as the model reads them
((..., 3, H, W) float in [0, 1]): the two conversions, defined once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def frames_to_tensor(frames: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """(..., H, W, 3) uint8 -> (..., 3, H, W) float32 in [0, 1], on `device`."""
    tensor = torch.from_numpy(np.ascontiguousarray(frames))
    if device is not None:
        tensor = tensor.to(device)  # move the uint8 pixels: a quarter of the float32 bytes
    return tensor.movedim(-1, -3).float().div(255)


def tensor_to_frames(images: torch.Tensor) -> np.ndarray:
    """(..., 3, H, W) float in [0, 1] (any dtype, any device) -> (..., H, W, 3) uint8 on the CPU."""
    pixels = images.float().clamp(0, 1).mul(255).round().to(torch.uint8)
    return pixels.movedim(-3, -1).cpu().numpy()


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """(t, h, w, 3) uint8 -> (t, height, width, 3) uint8: bilinear, antialiased when shrinking.

    Training (`tiwcli.training.data`) and evaluation (`tiwcli.evaluation.protocols`) both resize
    with this, so a model is scored on frames prepared exactly as it was trained on."""
    if frames.shape[1:3] == (height, width):
        return frames
    clip = torch.from_numpy(np.ascontiguousarray(frames)).movedim(-1, 1).float()  # (t, 3, h, w)
    resized = F.interpolate(clip, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return resized.round().clamp(0, 255).to(torch.uint8).movedim(1, -1).numpy()


def landmarks_to_tensor(
    landmarks: Sequence[np.ndarray | None],
    height: int,
    width: int,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Per frame (68, 2) pixel landmarks (x, y) or None -> (b, 68, 2) float in the image's [-1, 1]
    (the convention `tiw preprocess` stores: x / W * 2 - 1), NaN where there is no face."""
    out = np.full((len(landmarks), 68, 2), np.nan, np.float32)
    for index, points in enumerate(landmarks):
        if points is not None:
            out[index] = np.asarray(points, np.float32) / np.array([width, height], np.float32) * 2 - 1
    return torch.from_numpy(out).to(device)
