import dataclasses

import numpy as np
import pytest
import torch

from tiwcli.errors import InputError
from tiwcli.io.video import read_all_frames
from tiwcli.models import ImplicitWarping
from tiwcli.models.motion_gate import nearest_source


def _frames(path, indices, size):
    """Real frames of a clip, resized to size x size, (n, 3, size, size) in [0, 1]."""
    frames = read_all_frames(path, max_frames=max(indices) + 1)  # (t, h, w, 3) uint8
    images = torch.from_numpy(np.ascontiguousarray(frames[indices])).permute(0, 3, 1, 2).float() / 255
    return torch.nn.functional.interpolate(images, size=(size, size), mode="area")


def _landmarks(count: int, seed: int) -> torch.Tensor:
    """(count, 68, 2) face-like landmarks: one layout, moved a little per frame."""
    generator = torch.Generator().manual_seed(seed)
    layout = torch.rand(68, 2, generator=generator) * 0.8 - 0.4
    return layout + 0.03 * torch.randn(count, 68, 2, generator=generator)


def _model(config, gate: float) -> ImplicitWarping:
    torch.manual_seed(0)
    config = dataclasses.replace(config, landmark_flow_full_resolution=True, motion_gate=gate)
    return ImplicitWarping(config).eval()


@pytest.mark.parametrize("num_sources", [1, 3])
def test_standing_still_gives_the_source_back_exactly(tiny_landmark_config, carphone, num_sources):
    """Driving = the first source, frame and landmarks: with the gate the output is that source, pixel
    for pixel (here untrained weights, so only the gate can make it so); without it, it is not."""
    size = tiny_landmark_config.image_size
    sources = _frames(carphone, [0, 40, 80][:num_sources], size)[None]  # (1, n, 3, H, W)
    landmarks = _landmarks(num_sources, seed=1)[None]  # (1, n, 68, 2)
    results = {}
    for gate in (0.0, 0.01):
        with torch.no_grad():
            out = _model(tiny_landmark_config, gate)(
                sources, sources[:, 0], source_landmarks=landmarks, driving_landmarks=landmarks[:, 0]
            )
        results[gate] = (out.image - sources[:, 0]).abs().max().item()
    assert results[0.01] < 1e-5
    assert results[0.0] > 0.05


def test_the_gate_opens_where_the_landmarks_move(tiny_landmark_config, carphone):
    size = tiny_landmark_config.image_size
    sources = _frames(carphone, [0], size)[None]
    landmarks = _landmarks(1, seed=2)[None]  # (1, 1, 68, 2)
    driving = landmarks[:, 0].clone()
    driving[:, 57:60, 1] += 0.05  # the lower lip moves down: the mouth opens
    model = _model(tiny_landmark_config, 0.01)
    with torch.no_grad():
        rendered = model.render(
            model.encode_sources(sources, landmarks),
            model.keypoint_detector(sources[:, 0]),
            driving_landmarks=driving,
        )
    generated_share = 1 - rendered.mask  # (1, 1, H, W)
    corner = generated_share[..., :4, :4].max().item()  # the pinned border barely moves
    assert generated_share.max().item() > max(0.05, 10 * corner)  # the generator may paint where it moved
    assert (rendered.image - sources[:, 0]).abs().amax().item() > 0.05


def test_the_nearest_source_is_the_one_whose_landmarks_are_nearest():
    driving = torch.zeros(1, 68, 2)
    sources = torch.stack(
        [torch.full((68, 2), 0.3), torch.full((68, 2), 0.1), torch.full((68, 2), float("nan"))]
    )
    assert nearest_source(driving, sources[None]).tolist() == [[0.0, 1.0, 0.0]]


def test_the_gate_needs_the_full_resolution_spline(tiny_landmark_config):
    with pytest.raises(InputError, match="motion_gate"):
        dataclasses.replace(tiny_landmark_config, motion_gate=0.01)
    with pytest.raises(InputError, match="motion_gate"):
        dataclasses.replace(tiny_landmark_config, landmark_flow_full_resolution=True, motion_gate=-1.0)
