"""L1 / PSNR / SSIM: known answers on constructed and real frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tiwcli.errors import InputError
from tiwcli.evaluation.metrics.pixels import (
    PSNR_CAP_DB,
    SSIM_K1,
    l1_per_frame,
    psnr_per_frame,
    ssim_per_frame,
)
from tiwcli.io.video import read_all_frames


@pytest.fixture(scope="module")
def frames(carphone) -> np.ndarray:
    return read_all_frames(carphone, max_frames=3)  # (3, 144, 176, 3)


def test_identical_frames(frames):
    assert np.all(l1_per_frame(frames, frames) == 0)
    assert np.all(psnr_per_frame(frames, frames) == PSNR_CAP_DB)
    assert np.allclose(ssim_per_frame(frames, frames), 1.0)


def test_constant_offset_gives_known_l1_and_psnr(frames):
    real = np.clip(frames, 0, 245)
    pred = real + 10
    assert np.allclose(l1_per_frame(pred, real), 10.0)
    assert np.allclose(psnr_per_frame(pred, real), 20 * math.log10(255 / 10))
    assert np.allclose(l1_per_frame(real, pred), 10.0)  # symmetric


def test_ssim_of_constant_images_is_the_luminance_term():
    # Variances and covariance are 0: SSIM = (2 a b + C1) / (a^2 + b^2 + C1) everywhere.
    a, b = 100.0, 130.0
    pred = np.full((1, 32, 32, 3), a, np.uint8)
    real = np.full((1, 32, 32, 3), b, np.uint8)
    c1 = (SSIM_K1 * 255) ** 2
    assert ssim_per_frame(pred, real)[0] == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-9)


def test_more_noise_scores_worse(frames):
    rng = np.random.default_rng(0)
    noise = rng.normal(size=frames.shape)
    scores = []
    for level in (2, 8, 32):
        pred = np.clip(frames + level * noise, 0, 255).astype(np.uint8)
        scores.append(
            (
                l1_per_frame(pred, frames).mean(),
                psnr_per_frame(pred, frames).mean(),
                ssim_per_frame(pred, frames).mean(),
            )
        )
    l1, psnr, ssim = zip(*scores, strict=True)
    assert l1[0] < l1[1] < l1[2]
    assert psnr[0] > psnr[1] > psnr[2]
    assert 1 > ssim[0] > ssim[1] > ssim[2] > 0


def test_shape_mismatch_is_an_input_error(frames):
    with pytest.raises(InputError):
        l1_per_frame(frames, frames[:, :100])
    with pytest.raises(InputError):
        ssim_per_frame(frames[:, :8, :8], frames[:, :8, :8])
