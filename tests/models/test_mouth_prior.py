import dataclasses

import pytest
import torch

from tiwcli.errors import InputError
from tiwcli.models import ImplicitWarping
from tiwcli.models.mouth_prior import INNER_LIPS, inside_polygon, mouth_bias, mouth_openings


def _face(opening: float) -> torch.Tensor:
    """(68, 2) landmarks with eyes 0.6 apart and an inner-lip gap of `opening` x that distance."""
    landmarks = torch.zeros(68, 2)
    landmarks[36], landmarks[45] = torch.tensor([-0.3, -0.2]), torch.tensor([0.3, -0.2])
    xs = torch.tensor([-0.15, -0.08, 0.0, 0.08, 0.15, 0.08, 0.0, -0.08])  # 60..67 around the mouth
    half = opening * 0.6 / 2
    ys = 0.4 + torch.tensor([0.0, -half, -half, -half, 0.0, half, half, half])
    landmarks[list(INNER_LIPS)] = torch.stack([xs, ys], dim=-1)
    return landmarks


def test_openings_are_the_gap_over_the_eye_distance():
    assert mouth_openings(_face(0.3)).item() == pytest.approx(0.3, abs=1e-5)


def test_inside_polygon_fills_a_square():
    square = torch.tensor([[[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]])
    inside = inside_polygon(square, 64)
    assert inside.sum().item() == 32 * 32
    assert inside_polygon(torch.full((1, 4, 2), float("nan")), 64).sum().item() == 0


def test_the_bias_lies_inside_a_mouth_opened_wider_than_the_source():
    driving = _face(0.3)[None]  # (1, 68, 2)
    nearest = torch.ones(1, 1)
    closed_source = _face(0.0)[None, None]  # (1, 1, 68, 2)
    bias = mouth_bias(driving, closed_source, nearest, 4.0, 64)
    region = inside_polygon(driving[:, list(INNER_LIPS)], 64)
    assert bias.max().item() == pytest.approx(4.0)
    assert (bias * (1 - region)).abs().max().item() == 0
    open_source = _face(0.3)[None, None]  # the source's mouth is as open: its own interior warps
    assert mouth_bias(driving, open_source, nearest, 4.0, 64).abs().max().item() == 0


def test_the_model_hands_the_opened_mouth_to_the_generator(tiny_landmark_config):
    config = dataclasses.replace(tiny_landmark_config, mouth_mask_logit=6.0)
    torch.manual_seed(0)
    model = ImplicitWarping(config).eval()
    sources = torch.rand(1, 1, 3, 64, 64)
    source_landmarks, driving_landmarks = _face(0.0)[None, None], _face(0.4)[None]
    with torch.no_grad():
        encoding = model.encode_sources(sources, source_landmarks)
        keypoints = model.keypoint_detector(sources[:, 0])
        with_prior = model.render(encoding, keypoints, driving_landmarks=driving_landmarks).mask
        model.config = tiny_landmark_config
        without = model.render(encoding, keypoints, driving_landmarks=driving_landmarks).mask
    region = inside_polygon(driving_landmarks[:, list(INNER_LIPS)], 64).bool()
    assert with_prior[region].mean() < 0.2 < without[region].mean()
    assert torch.allclose(with_prior[~region], without[~region])


def test_the_prior_needs_landmarks_and_the_warp(tiny_config):
    with pytest.raises(InputError, match="mouth_mask_logit"):
        dataclasses.replace(tiny_config, mouth_mask_logit=4.0)
