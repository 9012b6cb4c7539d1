"""Training losses (paper section "Training"; weights in `TrainConfig`).

Generator side, bundled in `GeneratorObjective` so one DistributedDataParallel
wrapper covers every use of the model's parameters in a step:
- L1 image pyramid between output and driving frame (works offline; always on),
- multi-scale VGG-19 perceptual loss (when its weights are on disk),
- hinge GAN loss + discriminator feature matching (multi-scale patch discriminator),
- keypoint equivariance under random affine + TPS warps (FOMM): keypoints found on
  a warped driving frame, mapped back through the warp, must land on the keypoints
  of the frame itself; strengths must not change.
- landmark guidance (LivePortrait): keypoints 0..L-1 of every source and driving frame
  are tied (L1) to the dataset's landmarks GUIDED_LANDMARKS (of the 68); the rest stay free.
  Keypoints found without supervision on a few people do not line up across people;
  tied to landmarks, the same keypoint means the same facial point on everyone.
- warp-only warm-up (full-resolution warp models): the losses see the warped sources
  alone, so the only way down is better correspondence, not memorised faces.
Discriminator side: `discriminator_loss` (hinge).

Shapes: b batch, n sources, k keypoints, H W image size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tiwcli.config import TrainConfig
from tiwcli.models import ImplicitWarping
from tiwcli.training.data import GUIDED_LANDMARKS
from tiwcli.training.discriminator import MultiScaleDiscriminator
from tiwcli.training.perceptual import PerceptualLoss
from tiwcli.training.warps import RandomWarp


def image_pyramid(images: Tensor, scales: tuple[float, ...]) -> list[Tensor]:
    """(b, c, H, W) -> one antialiased copy per scale."""
    return [
        images if scale == 1.0 else F.interpolate(images, scale_factor=scale, mode="bilinear", antialias=True)
        for scale in scales
    ]


def pyramid_l1(output: Tensor, target: Tensor, scales: tuple[float, ...]) -> Tensor:
    """Sum over scales of the mean absolute difference."""
    pairs = zip(image_pyramid(output, scales), image_pyramid(target, scales), strict=True)
    return sum((a - b).abs().mean() for a, b in pairs)  # type: ignore[return-value]


def generator_hinge_loss(fake_scores: list[Tensor]) -> Tensor:
    return sum(-score.mean() for score in fake_scores)  # type: ignore[return-value]


def discriminator_hinge_loss(real_scores: list[Tensor], fake_scores: list[Tensor]) -> Tensor:
    return sum(  # type: ignore[return-value]
        F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        for real, fake in zip(real_scores, fake_scores, strict=True)
    )


def feature_matching_loss(real_features: list[list[Tensor]], fake_features: list[list[Tensor]]) -> Tensor:
    """Mean L1 between discriminator features of the real and generated image (real side detached)."""
    total = 0.0
    for real_scale, fake_scale in zip(real_features, fake_features, strict=True):
        for real, fake in zip(real_scale, fake_scale, strict=True):
            total = total + (real.detach() - fake).abs().mean()
    return total  # type: ignore[return-value]


@dataclass
class EquivarianceLosses:
    positions: Tensor  # mean L1 in [-1, 1] units
    strengths: Tensor  # mean L1


def equivariance_losses(
    model: ImplicitWarping, images: Tensor, keypoints: object, config: TrainConfig
) -> EquivarianceLosses:
    """Keypoints of `images` (b, 3, H, W) vs those of a random warp of them, mapped back."""
    warp = RandomWarp.sample(
        images.shape[0],
        config.warp_affine_sigma,
        config.warp_tps_sigma,
        config.warp_tps_points,
        images.device,
    )
    warped_keypoints = model.keypoint_detector(warp.warp_images(images))
    mapped_back = warp.warp_coordinates(warped_keypoints.positions.float())  # (b, k, 2)
    return EquivarianceLosses(
        positions=(keypoints.positions.float() - mapped_back).abs().mean(),  # type: ignore[attr-defined]
        strengths=(keypoints.strengths.float() - warped_keypoints.strengths.float()).abs().mean(),  # type: ignore[attr-defined]
    )


def landmark_loss(positions: Tensor, landmarks: Tensor) -> Tensor | None:
    """Mean L1 between the first min(k, L) keypoints (..., k, 2) and landmarks (..., L, 2), over
    the entries whose landmark is known (NaN = unknown); None when none is known."""
    count = min(positions.shape[-2], landmarks.shape[-2])  # a model with fewer keypoints guides fewer
    guided, landmarks = positions[..., :count, :].float(), landmarks[..., :count, :]
    known = ~torch.isnan(landmarks)
    if not known.any():
        return None
    return (guided - torch.nan_to_num(landmarks)).abs()[known].mean()


MOUTH_LANDMARKS = slice(48, 68)  # iBUG 68: outer and inner lips


def lip_boxes(landmarks: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(b, 68, 2) landmarks in [-1, 1] -> known (b,), whether a sample's lips (points 48-67) are all
    known, and the box around them: low, high (b, 2) x, y (0 where they are not known)."""
    lips = landmarks[:, MOUTH_LANDMARKS].float()  # (b, 20, 2)
    known = torch.isfinite(lips).all(-1).all(-1)  # (b,)
    lips = lips.nan_to_num()
    return known, lips.amin(1), lips.amax(1)


def mouth_l1(output: Tensor, target: Tensor, landmarks: Tensor, margin: float = 0.25) -> Tensor | None:
    """Mean L1 over the mouth region of each sample: the box around the target's lip landmarks
    (b, 68, 2, in [-1, 1]) grown by `margin` of its size on each side. output, target (b, 3, H, W).
    None when no sample has its lips known."""
    known, low, high = lip_boxes(landmarks)
    if not known.any():
        return None
    pad = (high - low) * margin
    low, high = low - pad, high + pad
    height, width = output.shape[-2:]
    xs = (torch.arange(width, device=output.device) + 0.5) / width * 2 - 1  # pixel centres in [-1, 1]
    ys = (torch.arange(height, device=output.device) + 0.5) / height * 2 - 1
    inside_x = (xs >= low[:, :1]) & (xs <= high[:, :1])  # (b, W)
    inside_y = (ys >= low[:, 1:]) & (ys <= high[:, 1:])  # (b, H)
    mask = inside_y[:, :, None] & inside_x[:, None, :] & known[:, None, None]  # (b, H, W)
    if not mask.any():
        return None
    difference = (output.float() - target.float()).abs().mean(1)  # (b, H, W)
    return difference[mask].mean()


MOUTH_CROP = 128  # pixels: the side of the mouth crops the discriminator scores (mouth_gan_weight)


def mouth_crops(
    images: Tensor, landmarks: Tensor, margin: float = 0.25, size: int = MOUTH_CROP
) -> Tensor | None:
    """The square box around each sample's lips (landmarks (b, 68, 2) in [-1, 1], points 48-67), its
    larger side grown by `margin` on each side, cut from images (b, 3, H, W) and resampled
    (bilinear, differentiable) to (b', 3, size, size), b' the samples whose lips are known; None
    when none is."""
    known, low, high = lip_boxes(landmarks)
    if not known.any():
        return None
    low, high = low[known], high[known]  # (b', 2) x, y
    half = (high - low).amax(-1) * (0.5 + margin)  # (b',) half the square's side
    theta = torch.zeros(len(low), 2, 3, device=images.device)
    theta[:, 0, 0] = theta[:, 1, 1] = half
    theta[:, :, 2] = (low + high) / 2  # the centre
    grid = F.affine_grid(theta, [len(low), 3, size, size], align_corners=False)  # (b', size, size, 2)
    crops = images[known].float()
    return F.grid_sample(crops, grid, mode="bilinear", padding_mode="border", align_corners=False)


@dataclass
class GeneratorResult:
    image: Tensor  # (b, 3, H, W) the model's output
    losses: dict[str, Tensor]  # name -> weighted loss (scalar); "total" is their sum


class GeneratorObjective(nn.Module):
    """model + every generator-side loss. `forward` is one training step's generator pass."""

    def __init__(
        self, model: ImplicitWarping, config: TrainConfig, perceptual: PerceptualLoss | None
    ) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.perceptual = perceptual

    def forward(
        self,
        sources: Tensor,
        driving: Tensor,
        discriminator: MultiScaleDiscriminator | None = None,
        landmarks: tuple[Tensor, Tensor] | None = None,  # (b, n, 68, 2) sources, (b, 68, 2) driving
        warp_only: bool = False,
    ) -> GeneratorResult:
        """sources (b, n, 3, H, W), driving (b, 3, H, W). The discriminator is passed in, not owned,
        so that the distributed wrapper of this module does not take its parameters."""
        config = self.config
        face = landmarks if landmarks is not None and self.model.config.uses_landmarks else (None, None)
        output = self.model(sources, driving, warp_only, *face)
        image = output.image.float()  # (b, 3, H, W)
        losses: dict[str, Tensor] = {
            "pyramid": config.pyramid_weight * pyramid_l1(image, driving, config.pyramid_scales)
        }
        if self.perceptual is not None and config.perceptual_weight > 0:
            losses["perceptual"] = config.perceptual_weight * self.perceptual(image, driving)
        if discriminator is not None and config.has_gan:
            fake = discriminator(image)
            if config.gan_weight > 0:
                losses["gan"] = config.gan_weight * generator_hinge_loss(fake.scores)
            if config.feature_matching_weight > 0:
                with torch.no_grad():
                    real = discriminator(driving)
                losses["feature_matching"] = config.feature_matching_weight * feature_matching_loss(
                    real.features, fake.features
                )
        if config.equivariance_weight > 0 or config.strength_equivariance_weight > 0:
            equivariance = equivariance_losses(self.model, driving, output.driving_keypoints, config)
            losses["equivariance"] = config.equivariance_weight * equivariance.positions
            losses["strength_equivariance"] = config.strength_equivariance_weight * equivariance.strengths
        if config.landmark_weight > 0 and landmarks is not None:
            guided = list(GUIDED_LANDMARKS)
            source_loss = landmark_loss(output.source_keypoints.positions, landmarks[0][..., guided, :])
            driving_loss = landmark_loss(output.driving_keypoints.positions, landmarks[1][..., guided, :])
            known = [loss for loss in (source_loss, driving_loss) if loss is not None]
            if known:
                losses["landmarks"] = config.landmark_weight * sum(known) / len(known)
        if config.mouth_weight > 0 and landmarks is not None:
            mouth = mouth_l1(image, driving, landmarks[1])
            if mouth is not None:
                losses["mouth"] = config.mouth_weight * mouth
        if discriminator is not None and config.mouth_gan_weight > 0 and landmarks is not None:
            crops = mouth_crops(image, landmarks[1])
            if crops is not None:
                mouth_scores = discriminator(crops).scores
                losses["mouth_gan"] = config.mouth_gan_weight * generator_hinge_loss(mouth_scores)
        losses["total"] = sum(losses.values())  # type: ignore[assignment]
        return GeneratorResult(image=output.image, losses=losses)


def discriminator_loss(
    discriminator: nn.Module, real: Tensor, fake: Tensor, mouth_landmarks: Tensor | None = None
) -> Tensor:
    """Hinge loss of the discriminator on real driving frames vs (detached) outputs; with
    `mouth_landmarks` (b, 68, 2, the driving frames'), also on their mouth crops (`mouth_crops`)."""
    fake = fake.detach().float()
    real_out = discriminator(real)
    fake_out = discriminator(fake)
    loss = discriminator_hinge_loss(real_out.scores, fake_out.scores)
    if mouth_landmarks is not None:
        real_mouths = mouth_crops(real, mouth_landmarks)
        if real_mouths is not None:
            fake_mouths = mouth_crops(fake, mouth_landmarks)
            assert fake_mouths is not None
            loss = loss + discriminator_hinge_loss(
                discriminator(real_mouths).scores, discriminator(fake_mouths).scores
            )
    return loss
