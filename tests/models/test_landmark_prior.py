import dataclasses

import pytest
import torch
from einops import rearrange

from tiwcli.errors import InputError
from tiwcli.models import ImplicitWarping
from tiwcli.models.landmark_prior import (
    SPLINE_STEP,
    landmark_bias,
    source_selection,
    spline_at,
    spline_flow_base,
    thin_plate_centres,
    thin_plate_spline,
)
from tiwcli.models.layers import coordinate_grid
from tiwcli.models.locality_prior import locality_bias


def _grid(side: int) -> torch.Tensor:
    return rearrange(coordinate_grid(side), "h w xy -> (h w) xy")  # (q, 2)


def test_the_spline_is_exact_at_the_landmarks_and_keeps_the_border():
    """Landmarks spread over the face, moved non-rigidly (a mouth opening): the spline carries each
    driving landmark onto its source landmark, and the crop's border stays where it is."""
    torch.manual_seed(0)
    driving = torch.rand(1, 68, 2) * 1.0 - 0.5
    sources = driving.clone()
    sources[0, 48:68, 1] += torch.linspace(-0.05, 0.05, 20)  # the lips move apart
    side = 64
    centres = thin_plate_centres(driving, sources[:, None], side, 1e-6)  # (1, 1, q, 2)
    queries = _grid(side)
    nearest = torch.cdist(driving[0], queries).argmin(dim=1)  # the query cell at each landmark
    expected = queries[nearest] + (sources[0] - driving[0])
    assert torch.allclose(centres[0, 0, nearest], expected, atol=0.02)
    corners = (queries.abs() > 0.95).all(-1)
    assert torch.allclose(centres[0, 0, corners], queries[corners], atol=0.02)


def test_a_uniform_shift_moves_the_face_with_it():
    driving = torch.rand(1, 68, 2) * 0.6 - 0.3
    shift = torch.tensor([0.2, -0.1])
    centres = thin_plate_centres(driving, (driving + shift)[:, None], 16, 0.01)
    queries = _grid(16)
    inside = (queries.abs() < 0.25).all(-1)
    assert torch.allclose(
        centres[0, 0, inside] - queries[inside], shift.expand(int(inside.sum()), 2), atol=0.03
    )


def test_closed_lips_with_coinciding_landmarks_stay_finite():
    driving = torch.rand(1, 68, 2) * 0.6 - 0.3
    driving[0, 65:68] = driving[0, 61:64]  # inner lips meet: duplicate control points
    sources = driving.clone()
    sources[0, 65:68, 1] += 0.1  # the source's mouth is open
    centres = thin_plate_centres(driving, sources[:, None], 16, 0.01)
    assert torch.isfinite(centres).all()


def test_missing_landmarks_fall_back_to_the_identity():
    driving = torch.full((2, 68, 2), float("nan"))
    driving[1] = torch.rand(68, 2) * 0.6 - 0.3
    sources = (driving.nan_to_num() + 0.1)[:, None]
    centres = thin_plate_centres(driving, sources, 8, 0.01)
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
    bias = landmark_bias(driving, sources, 8, 2, 2, 1.5, flow=False, smoothing=0.01, tau=0.0)
    expected = locality_bias(8, 2, 3, 2, 1.5)
    assert bias.shape == (2, 64, 2 + 3 * 16)
    assert torch.allclose(bias, expected.expand(2, -1, -1), atol=1e-5)


@pytest.fixture
def prior_config(tiny_config):
    return dataclasses.replace(
        tiny_config,
        full_resolution_warp=True,
        locality_sigma=0.75,
        landmark_flow=True,
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


def _parted_lips(model: ImplicitWarping, face: torch.Tensor):
    """Landmarks spread over the crop; in the driving frame a row of them (the 'lips') sits 0.1
    lower: the spline stretches a thin band. -> the model's warped sources and the exact spline warp
    at every pixel, (1, 3, 64, 64) each."""
    grid = _grid(8)
    source_landmarks = torch.cat([grid, grid[:4]])[None, None] * 0.7  # (1, 1, 68, 2)
    driving_landmarks = source_landmarks[:, 0].clone()
    lips = (grid[:, 1] - grid[32, 1]).abs() < 1e-6  # one row of the 8 x 8 grid
    driving_landmarks[0, torch.cat([lips, torch.zeros(4, dtype=torch.bool)]), 1] += 0.1
    with torch.no_grad():
        encoding = model.encode_sources(face, source_landmarks)
        encoding = dataclasses.replace(encoding, keys=torch.zeros_like(encoding.keys))  # the prior alone
        keypoints = model.keypoint_detector(face[:, 0])
        warped = model.render(encoding, keypoints, driving_landmarks=driving_landmarks).warped_sources
    exact = rearrange(
        thin_plate_centres(driving_landmarks, source_landmarks, face.shape[-1], 0.01)[0, 0],
        "(h w) xy -> h w xy",
        h=face.shape[-1],
    )
    spline = torch.nn.functional.grid_sample(
        face[:, 0], exact[None], padding_mode="border", align_corners=False
    )
    return warped, spline


def test_the_full_resolution_spline_keeps_the_lips_sharp(prior_config, carphone):
    """With the prior alone (keys zeroed, so Q K^T = 0) the warp is the spline as the attention grid
    holds it; with landmark_flow_full_resolution it is the spline read at every pixel. 128 pixels on
    a 16-cell grid: 8-pixel cells, as the shipped preset's 256 on 32."""
    from tiwcli.io.video import read_all_frames

    frame = torch.from_numpy(read_all_frames(carphone, max_frames=1)[0]).permute(2, 0, 1).float() / 255
    face = torch.nn.functional.interpolate(frame[None], size=(128, 128), mode="area")[:, None]
    config = dataclasses.replace(prior_config, image_size=128)
    torch.manual_seed(0)
    plain = ImplicitWarping(config).eval()
    sharp = ImplicitWarping(dataclasses.replace(config, landmark_flow_full_resolution=True)).eval()
    sharp.load_state_dict(plain.state_dict())  # the option owns no weights
    blurred, spline = _parted_lips(plain, face)
    kept, _ = _parted_lips(sharp, face)
    band = (slice(None), slice(None), slice(64, 88), slice(16, 112))  # around the moved row (y 70 -> 76)
    assert (kept - spline)[band].abs().mean() < 0.25 * (blurred - spline)[band].abs().mean()


def test_the_full_resolution_spline_changes_nothing_without_motion(prior_config):
    torch.manual_seed(0)
    plain = ImplicitWarping(prior_config).eval()
    sharp = ImplicitWarping(dataclasses.replace(prior_config, landmark_flow_full_resolution=True)).eval()
    sharp.load_state_dict(plain.state_dict())
    sources, driving = torch.rand(1, 2, 3, 64, 64), torch.rand(1, 3, 64, 64)
    landmarks = torch.rand(1, 68, 2) * 1.2 - 0.6
    with torch.no_grad():
        assert torch.equal(plain(sources, driving).image, sharp(sources, driving).image)  # no landmarks
        same = {"source_landmarks": landmarks[:, None].expand(1, 2, 68, 2), "driving_landmarks": landmarks}
        assert torch.allclose(
            plain(sources, driving, **same).image, sharp(sources, driving, **same).image, atol=1e-4
        )


def test_the_spline_base_is_read_on_the_attention_grid_and_every_spline_step_pixels():
    driving = torch.rand(2, 68, 2) * 1.2 - 0.6
    sources = (driving + 0.05)[:, None].repeat(1, 3, 1, 1)
    base = spline_flow_base(driving, sources, 16, 64, 0.01)
    assert base.coarse.shape == (2, 3, 2, 16, 16)
    assert base.fine.shape == (2, 3, 2, 64 // SPLINE_STEP, 64 // SPLINE_STEP)
    expected = thin_plate_centres(driving, sources, 64 // SPLINE_STEP, 0.01)
    assert torch.equal(base.fine, rearrange(expected, "b n (h w) xy -> b n xy h w", h=64 // SPLINE_STEP))


def test_a_coarser_spline_step_reads_the_spline_on_a_coarser_grid():
    driving = torch.rand(1, 68, 2) * 1.2 - 0.6
    sources = (driving + 0.05 * torch.randn(1, 68, 2))[:, None]
    fine = spline_flow_base(driving, sources, 16, 128, 0.01, step=2).fine
    coarse = spline_flow_base(driving, sources, 16, 128, 0.01, step=4).fine
    assert fine.shape[-1] == 64 and coarse.shape[-1] == 32
    expected = thin_plate_centres(driving, sources, 32, 0.01)
    assert torch.equal(coarse, rearrange(expected, "b n (h w) xy -> b n xy h w", h=32))


def test_the_spline_step_must_divide_the_image(tiny_config):
    with pytest.raises(InputError, match="landmark_flow_spline_step"):
        dataclasses.replace(tiny_config, landmark_flow_spline_step=3)


def test_the_full_resolution_spline_needs_the_flow_prior_and_the_warp(tiny_config, prior_config):
    with pytest.raises(InputError, match="landmark_flow_full_resolution"):
        dataclasses.replace(
            prior_config, landmark_flow=False, source_selection_tau=0.0, landmark_flow_full_resolution=True
        )
    with pytest.raises(InputError, match="landmark_flow_full_resolution"):
        dataclasses.replace(tiny_config, landmark_flow_full_resolution=True)
    assert dataclasses.replace(prior_config, landmark_flow_full_resolution=True).same_weights_as(prior_config)


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
        dataclasses.replace(tiny_config, landmark_flow=True)


def test_the_separable_bias_equals_the_gaussian_around_each_centre():
    torch.manual_seed(0)
    driving = torch.rand(2, 68, 2) * 0.6 - 0.3
    sources = driving[:, None] + torch.rand(2, 3, 68, 2) * 0.1
    bias = landmark_bias(driving, sources, 8, 2, 2, 1.0, flow=True, smoothing=0.01, tau=0.05)
    centres = thin_plate_centres(driving, sources, 8, 0.01)  # (b, n, q, 2)
    keys = _grid(4)
    sigma = 1.0 * 2 / 8
    naive = -(centres[:, :, :, None] - keys).square().sum(-1) / (2 * sigma**2)  # (b, n, q, p)
    naive = naive + source_selection(driving, sources, 0.05)[:, :, None, None]
    expected = rearrange(naive, "b n q p -> b q (n p)")
    assert torch.allclose(bias[..., 2:], expected, atol=1e-4)
    assert (bias[..., :2] == -4.0).all()


def test_the_spline_read_equals_the_kernel_sum_at_every_query_with_and_without_gradients():
    """`spline_at` (distances by one matrix product, the kernel in place) against the definition
    a0 + A x + sum_k w_k phi(|x - p_k|^2) computed point by point in float64, at a query that sits on
    a control point too (phi(0) = 0); and the same values where autograd records the kernel."""
    torch.manual_seed(3)
    driving = torch.rand(1, 68, 2) * 1.2 - 0.6
    sources = (driving + 0.03 * torch.randn(1, 68, 2))[:, None]
    driving[0, 0] = _grid(32)[5]  # a control point exactly on a query cell
    spline = thin_plate_spline(driving, sources, 0.001)
    read = spline_at(spline, 32)[0, 0].double()  # (q, 2)
    queries, controls = _grid(32).double(), spline.controls[0, 0].double()
    distance2 = (queries[:, None] - controls[None]).square().sum(-1)  # (q, K)
    kernel = torch.where(distance2 > 0, distance2 * distance2.clamp_min(1e-300).log(), 0.0)
    affine = torch.cat([torch.ones_like(queries[:, :1]), queries], dim=-1)
    expected = kernel @ spline.weights[0, 0].double() + affine @ spline.coefficients[0, 0].double()
    assert (read - expected).abs().max() < 5e-5  # float32: 0.006 px of a 256 crop
    with torch.enable_grad():
        weights = spline.weights.clone().requires_grad_()
        tracked = dataclasses.replace(
            spline, controls=spline.controls.clone().requires_grad_(), weights=weights
        )
        again = spline_at(tracked, 32)
        again.sum().backward()
    # the same sums in float32, reordered where autograd records them: within the bound above
    assert torch.allclose(again.detach(), spline_at(spline, 32), rtol=0, atol=5e-5)
    assert weights.grad is not None


def test_a_spline_is_read_once_per_grid_side():
    """The attention's prior and the full-resolution base both read the coarse grid: the second
    read is the first's tensor; another side, or a changed copy of the spline, is read anew."""
    torch.manual_seed(4)
    driving = torch.rand(1, 68, 2) * 1.2 - 0.6
    spline = thin_plate_spline(driving, (driving + 0.03 * torch.randn(1, 68, 2))[:, None], 0.001)
    coarse = spline_at(spline, 32)
    assert spline_at(spline, 32) is coarse
    assert spline_at(spline, 16).shape[2] == 16 * 16
    moved = dataclasses.replace(spline, weights=spline.weights * 2)
    assert not torch.equal(spline_at(moved, 32), coarse)
