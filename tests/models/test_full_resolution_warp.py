import dataclasses

import numpy as np
import pytest
import torch
from einops import rearrange

from tiwcli.errors import InputError
from tiwcli.io.video import read_all_frames
from tiwcli.models import ImplicitWarping
from tiwcli.models.attention import attend
from tiwcli.models.full_resolution_warp import (
    Correspondence,
    FlowBase,
    blend,
    correspondence_columns,
    read_correspondence,
    split_detail,
    warp_sources,
)
from tiwcli.models.layers import coordinate_grid


@pytest.fixture(scope="module")
def face(carphone) -> torch.Tensor:
    """A real frame: (1, 1, 3, 64, 64) in [0, 1]."""
    frame = torch.from_numpy(read_all_frames(carphone, max_frames=1)[0]).permute(2, 0, 1).float() / 255
    return torch.nn.functional.interpolate(frame[None], size=(64, 64), mode="area")[:, None]


@pytest.fixture
def warp_config(tiny_config):
    return dataclasses.replace(tiny_config, full_resolution_warp=True, locality_sigma=0.75)


def test_attention_recovers_a_known_shift(face):
    """Logits that peak at (query + shift) give flows = query + shift, and the warp moves the image."""
    side, extras, shift = 16, 2, torch.tensor([4 / 16, -2 / 16])  # 2 and -1 cells of a 16 grid
    positions = rearrange(coordinate_grid(side), "h w xy -> (h w) xy")  # (q, 2)
    logits = -torch.cdist(positions + shift, positions).square() / (2 * 0.02**2)  # sharp: (q, p)
    bias = torch.cat([torch.full((side * side, extras), -1e4), logits], dim=1)  # extras never win
    columns = correspondence_columns(1, 1, side, extras)  # (1, E + p, 3)
    queries, keys = torch.zeros(1, side * side, 4), torch.zeros(1, side * side + extras, 4)
    averaged = attend(queries, keys, columns, bias=bias)  # (1, q, 3)
    found = read_correspondence(averaged, 1, side)
    expected = rearrange(positions + shift, "(h w) xy -> xy h w", h=side)
    inside = (expected.abs() < 1 - 1 / side).all(0)  # where the target stays inside the source
    assert torch.allclose(found.flows[0, 0][:, inside], expected[:, inside], atol=1e-3)
    assert torch.allclose(found.masses, torch.ones_like(found.masses), atol=1e-4)
    moved = warp_sources(face, found)  # (1, 3, 64, 64): output(x) = source(x + shift)
    assert torch.allclose(moved[0, :, 8:-16, 8:-16], face[0, 0, :, 4:-20, 16:-8], atol=2e-2)


def test_warp_blends_sources_by_attention_mass(face):
    identity = rearrange(coordinate_grid(8), "h w xy -> xy h w")[None, None]  # (1, 1, 2, 8, 8)
    flows = identity.repeat(1, 2, 1, 1, 1)
    masses = torch.stack([torch.full((8, 8), 0.6), torch.full((8, 8), 0.2)])[None]  # 0.2 to the extras
    images = torch.cat([face, 1 - face], dim=1)  # (1, 2, 3, 64, 64)
    warped = warp_sources(images, Correspondence(flows=flows, masses=masses))
    assert torch.allclose(warped, 0.75 * face[:, 0] + 0.25 * (1 - face[:, 0]), atol=1e-5)


def test_a_blend_power_leans_toward_the_source_with_more_mass(face):
    identity = rearrange(coordinate_grid(8), "h w xy -> xy h w")[None, None]  # (1, 1, 2, 8, 8)
    flows = identity.repeat(1, 2, 1, 1, 1)
    masses = torch.stack([torch.full((8, 8), 0.6), torch.full((8, 8), 0.2)])[None]
    images = torch.cat([face, 1 - face], dim=1)
    squared = warp_sources(images, Correspondence(flows=flows, masses=masses), blend_power=2.0)
    # 0.36 : 0.04 -> 0.9 : 0.1
    assert torch.allclose(squared, 0.9 * face[:, 0] + 0.1 * (1 - face[:, 0]), atol=1e-5)
    once = warp_sources(images, Correspondence(flows=flows, masses=masses), blend_power=1.0)
    assert torch.equal(once, warp_sources(images, Correspondence(flows=flows, masses=masses)))


def test_a_blend_power_below_one_is_refused(tiny_config):
    with pytest.raises(InputError, match="source_blend_power"):
        dataclasses.replace(tiny_config, source_blend_power=0.5)


def _laplacian_variance(image: torch.Tensor) -> float:
    """(b, 3, H, W) -> variance of the 4-neighbour Laplacian of its grey, inside a 4 px border."""
    grey = image.mean(dim=1)[0]
    lap = grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1]
    return float(lap[3:-3, 3:-3].var())


def test_split_detail_adds_back_up_and_keeps_flat_areas_flat(face):
    blurred, detail = split_detail(face)
    assert torch.allclose(blurred + detail, face, atol=1e-6)
    assert _laplacian_variance(blurred[:, 0]) < 0.5 * _laplacian_variance(face[:, 0])
    flat_blur, flat_detail = split_detail(torch.full((1, 2, 3, 64, 64), 0.3))  # borders reflected
    assert torch.allclose(flat_blur, torch.full_like(flat_blur, 0.3), atol=1e-6)
    assert flat_detail.abs().max() < 1e-6


def test_a_detail_power_keeps_the_averaged_shapes_and_the_leading_sources_detail(carphone):
    """Two sources 1 px apart at 128 px (the detail band's sigma is 1 px there), masses 0.6 : 0.4:
    the blur is blended 0.6 : 0.4 as before, the detail 0.6^8 : 0.4^8 (about 0.96 : 0.04), so the
    output is sharper than the plain blend."""
    frame = torch.from_numpy(read_all_frames(carphone, max_frames=1)[0]).permute(2, 0, 1).float() / 255
    face = torch.nn.functional.interpolate(frame[None], size=(128, 128), mode="area")[:, None]
    identity = rearrange(coordinate_grid(8), "h w xy -> xy h w")[None, None]
    flows = identity.repeat(1, 2, 1, 1, 1)
    masses = torch.stack([torch.full((8, 8), 0.6), torch.full((8, 8), 0.4)])[None]
    images = torch.cat([face, torch.roll(face, shifts=1, dims=-1)], dim=1)  # (1, 2, 3, 128, 128)
    correspondence = Correspondence(flows=flows, masses=masses)
    plain = warp_sources(images, correspondence)
    banded = warp_sources(images, correspondence, detail_power=8.0)
    blurred, detail = split_detail(images)
    lead = 0.6**8 / (0.6**8 + 0.4**8)
    expected = 0.6 * blurred[:, 0] + 0.4 * blurred[:, 1] + lead * detail[:, 0] + (1 - lead) * detail[:, 1]
    assert torch.allclose(banded, expected, atol=1e-5)
    assert _laplacian_variance(banded) > 1.25 * _laplacian_variance(plain)
    assert torch.equal(warp_sources(images, correspondence, detail_power=0.0), plain)


def test_a_wider_detail_band_hands_more_of_each_source_to_the_detail_blend(carphone):
    """`source_detail_sigma`: the default (2 px at 256) is the band as before; a wider Gaussian
    leaves a smoother blur (more in the detail band), the bands still add up, and with two sources
    1 px apart the output is sharper than with the narrower band."""
    frame = torch.from_numpy(read_all_frames(carphone, max_frames=1)[0]).permute(2, 0, 1).float() / 255
    face = torch.nn.functional.interpolate(frame[None], size=(128, 128), mode="area")[:, None]
    narrow, _ = split_detail(face)
    wide, wide_detail = split_detail(face, 4.0 / 256)
    assert torch.allclose(wide + wide_detail, face, atol=1e-6)
    assert _laplacian_variance(wide[:, 0]) < 0.5 * _laplacian_variance(narrow[:, 0])
    identity = rearrange(coordinate_grid(8), "h w xy -> xy h w")[None, None]
    masses = torch.stack([torch.full((8, 8), 0.6), torch.full((8, 8), 0.4)])[None]
    correspondence = Correspondence(flows=identity.repeat(1, 2, 1, 1, 1), masses=masses)
    images = torch.cat([face, torch.roll(face, shifts=1, dims=-1)], dim=1)
    default = warp_sources(images, correspondence, detail_power=8.0)
    assert torch.equal(warp_sources(images, correspondence, detail_power=8.0, detail_sigma=2.0), default)
    wider = warp_sources(images, correspondence, detail_power=8.0, detail_sigma=4.0)
    assert _laplacian_variance(wider) > _laplacian_variance(default)


def test_a_detail_sigma_must_be_positive(tiny_config):
    with pytest.raises(InputError, match="source_detail_sigma"):
        dataclasses.replace(tiny_config, source_detail_sigma=0.0)
    assert dataclasses.replace(tiny_config, source_detail_sigma=3.0).source_detail_sigma == 3


def test_a_detail_power_changes_nothing_for_one_source_or_where_the_gate_is_shut(face):
    identity = rearrange(coordinate_grid(8), "h w xy -> xy h w")[None, None]
    one = Correspondence(flows=identity, masses=torch.full((1, 1, 8, 8), 0.9))
    assert torch.equal(warp_sources(face, one, detail_power=8.0), warp_sources(face, one))
    two = Correspondence(flows=identity.repeat(1, 2, 1, 1, 1), masses=torch.full((1, 2, 8, 8), 0.5))
    images = torch.cat([face, 1 - face], dim=1)
    base = FlowBase(coarse=two.flows, fine=identity.repeat(1, 2, 1, 1, 1))
    shut, second = torch.zeros(1, 1, 64, 64), torch.tensor([[0.0, 1.0]])
    out = warp_sources(images, two, base, gate=shut, nearest=second, detail_power=8.0)
    assert torch.allclose(out, 1 - face[:, 0], atol=1e-5)  # the nearest source alone


def test_a_detail_power_below_one_is_refused_but_zero_is_off(tiny_config):
    with pytest.raises(InputError, match="source_detail_power"):
        dataclasses.replace(tiny_config, source_detail_power=0.5)
    assert dataclasses.replace(tiny_config, source_detail_power=0.0).source_detail_power == 0


def test_a_flow_base_keeps_its_fine_flow_where_the_attention_follows_it(face):
    """Attention flows equal to the base's coarse flow: the warp is the base's fine flow, with
    detail that the coarse grid cannot hold (a 2-pixel band moved down by 3 pixels)."""
    coarse = rearrange(coordinate_grid(8), "h w xy -> xy h w")[None, None].clone()  # (1, 1, 2, 8, 8)
    fine = rearrange(coordinate_grid(32), "h w xy -> xy h w")[None, None].clone()  # (1, 1, 2, 32, 32)
    fine[:, :, 1, 15:17, :] -= 6 / 64  # output rows 30..33 read 3 pixels higher in the source
    masses = torch.ones(1, 1, 8, 8)
    warped = warp_sources(face, Correspondence(flows=coarse, masses=masses), FlowBase(coarse, fine))
    flows = torch.nn.functional.interpolate(
        fine[0] - coordinate_grid(32).permute(2, 0, 1), size=(64, 64), mode="bilinear", align_corners=False
    )
    flows = flows + coordinate_grid(64).permute(2, 0, 1)  # (1, 2, 64, 64)
    expected = torch.nn.functional.grid_sample(
        face[:, 0], flows.permute(0, 2, 3, 1), padding_mode="border", align_corners=False
    )
    assert torch.allclose(warped, expected, atol=1e-5)
    plain = warp_sources(face, Correspondence(flows=coarse, masses=masses))
    assert torch.allclose(plain, face[:, 0], atol=1e-5)  # without the base: the coarse identity
    assert (warped - plain)[..., 28:36, :].abs().mean() > 0.01  # the band moved


def test_the_warp_samples_in_float32_when_the_attention_runs_in_bf16(face):
    """Under bf16 autocast the attention's flows and masses arrive in bf16; the sampling positions
    (the spline's fine flow added in) and the pixels must stay float32, or every position is
    rounded to 8 bits of mantissa (up to half a pixel at 256 px)."""
    coarse = rearrange(coordinate_grid(8), "h w xy -> xy h w")[None, None].clone()  # (1, 1, 2, 8, 8)
    fine = rearrange(coordinate_grid(32), "h w xy -> xy h w")[None, None].clone()
    fine[:, :, 1, 15:17, :] -= 6 / 64
    masses = torch.ones(1, 1, 8, 8)
    flows = coarse.to(torch.bfloat16)
    warped = warp_sources(face, Correspondence(flows, masses.to(torch.bfloat16)), FlowBase(coarse, fine))
    expected = warp_sources(face, Correspondence(flows.float(), masses), FlowBase(coarse, fine))
    assert warped.dtype == torch.float32
    assert torch.allclose(warped, expected, atol=1e-6)


def test_blend_with_mask_one_is_the_warped_sources_exactly():
    warped, generated = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    assert torch.equal(blend(torch.ones(2, 1, 8, 8), warped, generated), warped)
    assert torch.equal(blend(torch.zeros(2, 1, 8, 8), warped, generated), generated)


def test_untrained_warp_with_locality_prior_is_near_identity(warp_config, face):
    """The point of the prior: before training, the warp copies the source (not a flat colour)."""
    torch.manual_seed(0)
    with torch.no_grad():
        with_prior = ImplicitWarping(warp_config).eval()(face, face[:, 0], warp_only=True).image
        torch.manual_seed(0)
        plain = dataclasses.replace(warp_config, locality_sigma=0.0)
        without = ImplicitWarping(plain).eval()(face, face[:, 0], warp_only=True).image
    error_with = (with_prior - face[:, 0]).abs().mean()
    error_without = (without - face[:, 0]).abs().mean()
    assert error_with < 0.05
    assert error_without > 2 * error_with


def test_full_resolution_outputs_and_mask_start_toward_the_warp(warp_config, face):
    torch.manual_seed(0)
    model = ImplicitWarping(warp_config).eval()
    with torch.no_grad():
        output = model(face.repeat(1, 2, 1, 1, 1), face[:, 0])
    assert output.warped_sources is not None and output.mask is not None
    assert output.mask.shape == (1, 1, 64, 64)
    assert float(output.mask.mean()) > 0.8
    expected = output.mask * output.warped_sources + (1 - output.mask) * 0  # blend form
    assert (output.image - expected).min() >= -1e-6  # the generator only adds (1 - mask) * rgb >= 0


def test_warp_only_skips_the_generator(warp_config, face):
    model = ImplicitWarping(warp_config).eval()
    calls = []
    model.generator.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        model(face, face[:, 0], warp_only=True)
        assert not calls
        model(face, face[:, 0])
    assert calls


def test_off_by_default_keeps_the_paper_model(tiny_config):
    model = ImplicitWarping(tiny_config)
    assert model.generator.to_rgb.out_channels == 3
    assert model.attention_bias(2, torch.device("cpu")) is None
    assert np.isclose(tiny_config.locality_sigma, 0.0) and not tiny_config.full_resolution_warp


def test_bicubic_sampling_is_sharper_and_exact_at_the_identity(carphone):
    """A real frame moved by half a pixel: bicubic keeps more detail (Laplacian variance) than
    bilinear, and both give the frame back exactly when nothing moves."""
    frame = torch.from_numpy(read_all_frames(carphone, max_frames=1)[0]).permute(2, 0, 1).float() / 255
    face = frame[None, None, :, :128, :128]  # (1, 1, 3, 128, 128)
    identity = rearrange(coordinate_grid(16), "h w xy -> xy h w")[None, None]  # (1, 1, 2, 16, 16)
    masses = torch.ones(1, 1, 16, 16)
    half_pixel = identity + torch.tensor([1 / 128, 0.0])[None, None, :, None, None]

    def laplacian_variance(image):
        grey = image[0].mean(0)[None, None]
        kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])[None, None]
        return torch.nn.functional.conv2d(grey, kernel)[..., 4:-4, 4:-4].var().item()

    sharpness = {}
    for mode in ("bilinear", "bicubic"):
        still = warp_sources(face, Correspondence(flows=identity, masses=masses), interpolation=mode)
        assert (still - face[:, 0]).abs().max().item() < 1e-5
        moved = warp_sources(face, Correspondence(flows=half_pixel, masses=masses), interpolation=mode)
        assert 0 <= moved.min().item() and moved.max().item() <= 1
        sharpness[mode] = laplacian_variance(moved)
    assert sharpness["bicubic"] > 1.3 * sharpness["bilinear"]


def test_an_unknown_interpolation_is_refused(tiny_config):
    from tiwcli.errors import InputError

    with pytest.raises(InputError, match="warp_interpolation must be bilinear or bicubic"):
        dataclasses.replace(tiny_config, warp_interpolation="nearest")
