import dataclasses

import numpy as np
import pytest
import torch

from tiwcli.config import ModelConfig
from tiwcli.errors import InputError
from tiwcli.faces.crop import crop_box_from_landmarks
from tiwcli.inference.motion import landmarks_in_crop
from tiwcli.io.images import load_image
from tiwcli.models import ImplicitWarping
from tiwcli.models.mouth_spline import mouth_region


@pytest.fixture(scope="module")
def face_landmarks(face_photo, dlib_analyzer) -> torch.Tensor:
    """(1, 68, 2) dlib's landmarks of a real portrait, in its face crop's [-1, 1]."""
    face = dlib_analyzer.detect(load_image(face_photo))[0]
    box = crop_box_from_landmarks(face.landmarks)
    return torch.from_numpy(landmarks_in_crop(face.landmarks, box, 0)).float()[None]


def _at(region: torch.Tensor, point: torch.Tensor) -> float:
    """The region's value at the pixel nearest `point` (2,) in [-1, 1]."""
    size = region.shape[-1]
    x, y = ((point + 1) / 2 * size).long().clamp(0, size - 1).tolist()
    return float(region[0, 0, y, x])


def test_the_region_covers_the_lips_and_nothing_else(face_landmarks):
    region = mouth_region(face_landmarks, 128, 2.5)  # (1, 1, 128, 128)
    assert region.shape == (1, 1, 128, 128)
    points = face_landmarks[0]
    assert _at(region, points[48:60].mean(0)) > 0.99  # the mouth's centre
    assert min(_at(region, points[index]) for index in range(48, 68)) > 0.8  # every lip point
    for eye in (36, 39, 42, 45, 27, 28):  # eye corners, the top of the nose (its tip is at the edge)
        assert _at(region, points[eye]) < 0.05
    assert _at(region, points[8]) < 0.5  # the chin, below the grown lips
    grown = mouth_region(face_landmarks, 128, 4.0)
    assert grown.sum() > region.sum() * 2  # growth widens it


def test_closed_lips_still_give_an_ellipse_and_no_face_gives_nothing(face_landmarks):
    closed = face_landmarks.clone()
    closed[:, 48:60, 1] = closed[:, 48:60, 1].mean()  # flat lips: zero height
    region = mouth_region(closed, 64, 2.5)
    assert torch.isfinite(region).all() and region.max() > 0.99
    no_face = torch.full_like(face_landmarks, float("nan"))
    assert mouth_region(no_face, 64, 2.5).abs().max() == 0


def _render(config, sources, source_landmarks, driving_landmarks):
    torch.manual_seed(0)
    model = ImplicitWarping(config).eval()
    with torch.no_grad():
        encoding = model.encode_sources(sources, source_landmarks)
        keypoints = model.keypoint_detector(sources[:, 0])
        return model.render(encoding, keypoints, warp_only=True, driving_landmarks=driving_landmarks).image


def test_the_lips_follow_the_spline_and_the_rest_keeps_the_attention(
    tiny_landmark_config, face_photo, face_landmarks
):
    """Driving landmarks with the mouth opened: with mouth_spline the warp inside the lips' ellipse
    is the spline's alone (the same image as with the departures switched off everywhere), and
    outside it the attention's departures stay (the same image as without mouth_spline)."""
    size = tiny_landmark_config.image_size
    image = torch.from_numpy(np.array(load_image(face_photo))).permute(2, 0, 1).float() / 255
    sources = torch.nn.functional.interpolate(image[None], size=(size, size), mode="area")[:, None]
    source_landmarks = face_landmarks[:, None]  # (1, 1, 68, 2)
    driving = face_landmarks.clone()
    driving[:, 56:59, 1] += 0.06  # the lower lip drops: the mouth opens
    driving[:, 65:68, 1] += 0.06
    base = dataclasses.replace(tiny_landmark_config, landmark_flow_full_resolution=True, motion_gate=0.01)
    plain = _render(base, sources, source_landmarks, driving)
    lips = _render(dataclasses.replace(base, mouth_spline=2.5), sources, source_landmarks, driving)
    region = mouth_region(driving, size, 2.5)  # (1, 1, H, W)
    inside, outside = region[0, 0] > 0.999, region[0, 0] < 1e-3
    assert inside.sum() >= 8 and outside.sum() > size * size / 4
    assert (lips - plain)[..., inside].abs().max() > 1e-3  # the departures did something there
    assert (lips - plain)[..., outside].abs().max() < 1e-3  # a quarter of a level in 255

    import tiwcli.models.implicit_warping as implicit_warping

    original = implicit_warping.warp_sources

    def spline_only(images, correspondence, flow_base=None, gate=None, *args):
        return original(images, correspondence, flow_base, None if gate is None else gate * 0, *args)

    implicit_warping.warp_sources = spline_only
    try:
        alone = _render(base, sources, source_landmarks, driving)
    finally:
        implicit_warping.warp_sources = original
    assert (lips - alone)[..., inside].abs().max() < 1e-3


def test_the_option_is_checked_and_old_configs_load_without_it(tiny_config):
    with pytest.raises(InputError, match="mouth_spline"):
        dataclasses.replace(tiny_config, mouth_spline=2.0)  # needs the full-resolution spline
    with pytest.raises(InputError, match="mouth_spline"):
        ModelConfig(mouth_spline=-1.0)
    old = json_without(tiny_config.to_json(), "mouth_spline")
    assert ModelConfig.from_json(old).mouth_spline == 0.0  # an older checkpoint: off


def json_without(text: str, key: str) -> str:
    import json

    values = json.loads(text)
    del values[key]
    return json.dumps(values)
