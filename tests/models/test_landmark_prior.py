import dataclasses

import pytest
import torch
from einops import rearrange

from tiwcli.errors import InputError
from tiwcli.models import ImplicitWarping
from tiwcli.models.landmark_prior import landmark_bias, landmark_flow_centres, source_selection
from tiwcli.models.layers import coordinate_grid
from tiwcli.models.locality_prior import locality_bias


def _grid(side: int) -> torch.Tensor:
    return rearrange(coordinate_grid(side), "h w xy -> (h w) xy")  # (q, 2)


def test_a_uniform_landmark_shift_moves_every_centre_near_the_face():
    landmarks = torch.rand(1, 68, 2) * 0.6 - 0.3  # a face in the middle of the crop
    shift = torch.tensor([0.2, -0.1])
    centres = landmark_flow_centres(landmarks, (landmarks + shift)[:, None], 16, 0.2, 1e-4)
    queries = _grid(16)
    near = (queries.abs() < 0.35).all(-1)  # cells the landmarks' weights reach
    assert torch.allclose(centres[0, 0, near] - queries[near], shift.expand(int(near.sum()), 2), atol=1e-4)


def test_far_from_the_face_the_background_keeps_the_identity():
    landmarks = torch.full((1, 68, 2), -0.8)  # all in the top-left corner
    centres = landmark_flow_centres(landmarks, (landmarks + 0.3)[:, None], 16, 0.1, 0.05)
    queries = _grid(16)
    far = (queries > 0.4).all(-1)
    assert torch.allclose(centres[0, 0, far], queries[far], atol=1e-3)


def test_missing_landmarks_fall_back_to_the_identity():
    driving = torch.full((2, 68, 2), float("nan"))
    driving[1] = 0.1
    sources = torch.zeros(2, 1, 68, 2)
    centres = landmark_flow_centres(driving, sources, 8, 0.2, 0.05)
    assert torch.equal(centres[0, 0], _grid(8))  # no face in the driving frame
    assert not torch.allclose(centres[1, 0], _grid(8))  # a face: the centres move
    assert torch.isfinite(centres).all()


def test_source_selection_prefers_the_nearest_source_and_ranks_unknown_ones_last():
    driving = torch.zeros(1, 68, 2)
    sources = torch.stack(
        [torch.full((68, 2), 0.3), torch.full((68, 2), 0.05), torch.full((68, 2), float("nan"))]
    )
    selection = source_selection(driving, sources[None], tau=0.1)  # (1, 3)
    assert selection[0, 1] == 0 and selection[0, 0] < -3  # nearest is 0, the far one well below
    assert selection[0, 2] == selection[0, 0]  # no landmarks: with the worst known source
    no_face = source_selection(torch.full((1, 68, 2), float("nan")), sources[None], tau=0.1)
    assert torch.equal(no_face, torch.zeros(1, 3))  # nothing to compare with: all equal


def test_without_flow_or_selection_the_bias_is_the_locality_prior():
    driving, sources = torch.rand(2, 68, 2), torch.rand(2, 3, 68, 2)
    bias = landmark_bias(driving, sources, 8, 2, 2, 1.5, radius=0.0, background=0.05, tau=0.0)
    expected = locality_bias(8, 2, 3, 2, 1.5)
    assert bias.shape == (2, 64, 2 + 3 * 16)
    assert torch.allclose(bias, expected.expand(2, -1, -1), atol=1e-5)


@pytest.fixture
def prior_config(tiny_config):
    return dataclasses.replace(
        tiny_config,
        full_resolution_warp=True,
        locality_sigma=0.75,
        landmark_flow_radius=0.2,
        source_selection_tau=0.05,
    )


def test_the_model_follows_the_landmarks_when_they_are_given(prior_config, carphone):
    """Untrained, Q K^T is near zero, so the warp is the prior's: a landmark shift moves the image."""
    from tiwcli.io.video import read_all_frames

    torch.manual_seed(0)
    model = ImplicitWarping(prior_config).eval()
    frame = torch.from_numpy(read_all_frames(carphone, max_frames=1)[0]).permute(2, 0, 1).float() / 255
    face = torch.nn.functional.interpolate(frame[None], size=(64, 64), mode="area")[
        :, None
    ]  # (1, 1, 3, 64, 64)
    grid = _grid(8)
    source_landmarks = torch.cat([grid, grid[:4]])[None, None] * 0.7  # spread over the crop: (1, 1, 68, 2)
    shift = torch.tensor([0.25, 0.0])  # 2 cells of the 16-cell feature grid
    with torch.no_grad():
        encoding = model.encode_sources(face, source_landmarks)
        keypoints = model.keypoint_detector(face[:, 0])
        still = model.render(encoding, keypoints, driving_landmarks=source_landmarks[:, 0])
        moved = model.render(encoding, keypoints, driving_landmarks=source_landmarks[:, 0] - shift)
        plain = model.render(encoding, keypoints)  # no landmarks: the locality prior alone
    assert torch.allclose(still.warped_sources, plain.warped_sources, atol=2e-2)
    # output(x) = source(x + shift): 8 pixels to the right in a 64-pixel image
    inner = moved.warped_sources[0, :, 16:48, 16:40]
    assert (inner - face[0, 0, :, 16:48, 24:48]).abs().mean() < 0.03
    assert (inner - face[0, 0, :, 16:48, 16:40]).abs().mean() > 0.03


def test_a_model_without_the_prior_ignores_landmarks(tiny_config):
    torch.manual_seed(0)
    model = ImplicitWarping(dataclasses.replace(tiny_config, full_resolution_warp=True, locality_sigma=1.0))
    model.eval()
    sources, driving = torch.rand(1, 2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        plain = model(sources, driving)
        given = model(
            sources, driving, source_landmarks=torch.rand(1, 2, 68, 2), driving_landmarks=torch.rand(2, 68, 2)
        )
    assert torch.equal(plain.image, given.image)


def test_the_prior_needs_the_locality_prior(tiny_config):
    with pytest.raises(InputError, match="locality_sigma"):
        dataclasses.replace(tiny_config, landmark_flow_radius=0.1)
