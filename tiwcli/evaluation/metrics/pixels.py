"""Pixel metrics of the paper's tables: L1, PSNR and SSIM, one value per frame.

Shape letters: b frames, h/w height/width, c = 3 colour channels.
All inputs are (b, h, w, 3) uint8 RGB at the evaluated resolution, predicted
first, real second. Every function returns (b,) float64: one value per frame;
the evaluation averages frames.

- L1: mean over all pixels and channels of |pred - real|, in 0-255 units.
- PSNR: 10 log10(255^2 / MSE) per frame, MSE over all pixels and channels;
  capped at `PSNR_CAP_DB` so identical frames do not make the average infinite.
- SSIM: Wang et al. 2004 on each RGB channel (Gaussian window 11, sigma 1.5,
  K1 0.01, K2 0.03, L 255, valid windows only, no padding), mean over the
  channels and window positions.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from tiwcli.errors import InputError

PSNR_CAP_DB = 100.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
DATA_RANGE = 255.0


def _check_pair(pred: np.ndarray, real: np.ndarray) -> None:
    if pred.shape != real.shape or pred.ndim != 4 or pred.shape[-1] != 3:
        raise InputError(
            f"metric inputs must be two (b, h, w, 3) arrays of one shape, got {pred.shape} and {real.shape}"
        )


def l1_per_frame(pred: np.ndarray, real: np.ndarray) -> np.ndarray:
    """Mean |pred - real| per frame in 0-255 units: (b,)."""
    _check_pair(pred, real)
    difference = np.abs(pred.astype(np.float64) - real.astype(np.float64))
    return difference.reshape(len(pred), -1).mean(axis=1)


def psnr_per_frame(pred: np.ndarray, real: np.ndarray, cap_db: float = PSNR_CAP_DB) -> np.ndarray:
    """PSNR in dB per frame with MAX = 255, capped at `cap_db` (identical frames give the cap): (b,)."""
    _check_pair(pred, real)
    squared = (pred.astype(np.float64) - real.astype(np.float64)) ** 2
    mse = squared.reshape(len(pred), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        psnr = 10.0 * np.log10(DATA_RANGE**2 / mse)
    return np.minimum(psnr, cap_db)


def _gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    weights = torch.exp(-(offsets**2) / (2 * sigma**2))
    return weights / weights.sum()  # (size,)


def _blur(images: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter, valid positions only: (n, 1, h, w) -> (n, 1, h-10, w-10)."""
    images = F.conv2d(images, rearrange(window, "k -> 1 1 1 k"))
    return F.conv2d(images, rearrange(window, "k -> 1 1 k 1"))


def ssim_per_frame(pred: np.ndarray, real: np.ndarray) -> np.ndarray:
    """Mean SSIM per frame over RGB channels and valid 11x11 windows: (b,)."""
    _check_pair(pred, real)
    if min(pred.shape[1:3]) < SSIM_WINDOW:
        raise InputError(f"SSIM needs frames of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels")
    window = _gaussian_window()
    x = rearrange(torch.from_numpy(pred).double(), "b h w c -> (b c) 1 h w")
    y = rearrange(torch.from_numpy(real).double(), "b h w c -> (b c) 1 h w")
    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    mu_x, mu_y = _blur(x, window), _blur(y, window)
    var_x = _blur(x * x, window) - mu_x**2
    var_y = _blur(y * y, window) - mu_y**2
    cov_xy = _blur(x * y, window) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    per_channel = rearrange(ssim_map, "(b c) 1 h w -> b (c h w)", c=3)
    return per_channel.mean(dim=1).numpy()
