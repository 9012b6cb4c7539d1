"""The multi-scale patch discriminator."""

from __future__ import annotations

import pytest
import torch

from tiwcli.training.discriminator import MultiScaleDiscriminator


@pytest.mark.parametrize("spectral", [True, False])
def test_scores_and_features_per_scale(spectral):
    discriminator = MultiScaleDiscriminator(scales=(1.0, 0.5), channels=8, blocks=3, spectral=spectral)
    output = discriminator(torch.rand(2, 3, 64, 64))
    assert [score.shape for score in output.scores] == [(2, 1, 8, 8), (2, 1, 4, 4)]
    assert [f.shape[1:] for f in output.features[0]] == [
        (8, 32, 32),
        (16, 16, 16),
        (32, 8, 8),
    ]


def test_gradients_reach_the_input_and_the_weights():
    discriminator = MultiScaleDiscriminator(channels=8, blocks=2)
    images = torch.rand(1, 3, 32, 32, requires_grad=True)
    sum(score.mean() for score in discriminator(images).scores).backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert all(p.grad is not None for p in discriminator.parameters())


def test_odd_sizes_work():
    output = MultiScaleDiscriminator(channels=4, blocks=2)(torch.rand(1, 3, 48, 40))
    assert output.scores[0].shape == (1, 1, 12, 10)
