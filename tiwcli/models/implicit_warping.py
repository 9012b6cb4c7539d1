"""Implicit Warping (Mallya, Wang, Liu, NeurIPS 2022): the whole model.

    sources ─┬─ keypoint detector ─ heatmaps ─┐
             ├──────────────────── key UNet ──┴─ keys   ─┐
             └─ source encoder ──────────────── values ──┤  (computed ONCE per animation)
    driving ── keypoint detector ─ heatmaps ─ query UNet ─ queries ─ attention warper ─ generator ─ image

Source encodings are a `SourceEncoding`, computed by `encode_sources` once and
reused for every driving frame. Several sources only add keys and values.

With `full_resolution_warp` (our addition) the attention's correspondence also warps
the full-resolution sources, and the generator blends its painting with them:

    attention ─ flows, masses ─ grid_sample(sources) ─ warped sources ─┐
              └ warped feature ─ generator ─ generated, mask ──────────┴─ blend ─ image

With the landmark prior (our addition), 68-point face landmarks of the sources and of the
driving frame centre the locality prior on where the landmarks moved, and pick the source
nearest the driving pose (models/landmark_prior.py).

Shape letters: b batch, n sources, k keypoints, H image side, h feature side,
r attention reduction, d key width, d' value width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from tiwcli.config import ModelConfig
from tiwcli.models.full_resolution_warp import (
    blend,
    correspondence_columns,
    gated_mask,
    read_correspondence,
    warp_sources,
)
from tiwcli.models.generator import Generator
from tiwcli.models.heatmaps import keypoint_heatmaps
from tiwcli.models.keypoint_encoder import key_encoder, query_encoder
from tiwcli.models.keypoints import KeypointDetector, Keypoints
from tiwcli.models.landmark_prior import ThinPlateSpline, landmark_bias, spline_flow_base, thin_plate_spline
from tiwcli.models.layers import resize
from tiwcli.models.locality_prior import locality_bias
from tiwcli.models.motion_gate import MotionGate, motion_gate, nearest_source
from tiwcli.models.mouth_prior import mouth_bias
from tiwcli.models.mouth_spline import mouth_region
from tiwcli.models.positional_encoding import FourierPositionalEncoding
from tiwcli.models.source_encoder import SourceEncoder
from tiwcli.models.warper import CrossModalAttentionWarper


@dataclass
class SourceEncoding:
    keypoints: Keypoints  # positions (b, n, k, 2), strengths (b, n, k)
    keys: torch.Tensor  # (b, m, d): learned extras, then n * (h/r) * (w/r) source entries
    packed: torch.Tensor  # (b, m, d' + 3 + d [+ 3n]): values, pixels, keys [, coordinates, one-hots]
    num_sources: int
    images: torch.Tensor | None = None  # (b, n, 3, H, W) the sources, for the full-resolution warp
    landmarks: torch.Tensor | None = None  # (b, n, 68, 2) in [-1, 1], NaN = no face (landmark prior)


@dataclass
class Rendered:
    image: torch.Tensor  # (b, 3, H, W) in [0, 1]: the model's output
    warped_sources: torch.Tensor | None  # (b, 3, H, W) the full-resolution warp alone (None: off)
    mask: torch.Tensor | None  # (b, 1, H, W) the blend mask, 1 = warped sources (None: off/warp-only)


@dataclass
class AnimationOutput:
    image: torch.Tensor  # (b, 3, H, W) in [0, 1]
    driving_keypoints: Keypoints  # (b, k, 2), (b, k)
    source_keypoints: Keypoints  # (b, n, k, 2), (b, n, k)
    warped_sources: torch.Tensor | None = None  # (b, 3, H, W) with the full-resolution warp
    mask: torch.Tensor | None = None  # (b, 1, H, W) the generator's blend mask


class ImplicitWarping(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.keypoint_detector = KeypointDetector(config)
        self.query_encoder = query_encoder(config)
        self.key_encoder = key_encoder(config)
        self.source_encoder = SourceEncoder(config)
        self.positional_encoding = FourierPositionalEncoding(config.positional_frequencies, config.key_dim)
        self.warper = CrossModalAttentionWarper(config)
        self.generator = Generator(config)

    def heatmaps(self, keypoints: Keypoints) -> torch.Tensor:
        """(b, k, 2) keypoints -> (b, k, h, w) strength-scaled Gaussians."""
        return keypoint_heatmaps(keypoints, self.config.feature_size, self.config.heatmap_sigma)

    def encode_sources(self, sources: torch.Tensor, landmarks: torch.Tensor | None = None) -> SourceEncoding:
        """sources: (b, n, 3, H, W) in [0, 1] -> keys and packed values of all n sources.
        landmarks (b, n, 68, 2) in [-1, 1], NaN = none: kept for the landmark prior (ignored when off)."""
        batch, num_sources = sources.shape[:2]
        h, r = self.config.feature_size, self.config.attention_reduction
        images = rearrange(sources, "b n c H W -> (b n) c H W")
        keypoints = self.keypoint_detector(images)  # ((b n), k, 2)
        small = resize(images, h) * 2 - 1  # ((b n), 3, h, w) in [-1, 1]
        keys = self.key_encoder(torch.cat([self.heatmaps(keypoints), small], dim=1))  # ((b n), d, h, w)
        values = self.source_encoder(images)  # ((b n), d', h, w)
        if r > 1:  # spatial-reduction attention: fewer, pooled keys and values
            keys, values, small = (F.avg_pool2d(x, r) for x in (keys, values, small))
        keys = rearrange(keys, "bn d h w -> bn (h w) d") + self.positional_encoding(h // r)
        flat = {
            name: rearrange(x, "(b n) p c -> b (n p) c", b=batch)
            for name, x in {
                "keys": keys,
                "values": rearrange(values, "bn c h w -> bn (h w) c"),
                "pixels": rearrange(small, "bn c h w -> bn (h w) c"),
            }.items()
        }
        columns = None
        if self.config.full_resolution_warp:
            columns = correspondence_columns(batch, num_sources, h // r, self.warper.num_extra)
        all_keys, packed = self.warper.pack(flat["keys"], flat["values"], flat["pixels"], columns)
        return SourceEncoding(
            keypoints=Keypoints(
                positions=rearrange(keypoints.positions, "(b n) k xy -> b n k xy", b=batch),
                strengths=rearrange(keypoints.strengths, "(b n) k -> b n k", b=batch),
            ),
            keys=all_keys,
            packed=packed,
            num_sources=num_sources,
            images=sources if self.config.full_resolution_warp else None,
            landmarks=landmarks if self.config.uses_landmarks else None,
        )

    def attention_bias(
        self,
        num_sources: int,
        device: torch.device,
        source_landmarks: torch.Tensor | None = None,  # (b, n, 68, 2)
        driving_landmarks: torch.Tensor | None = None,  # (b, 68, 2)
        spline: ThinPlateSpline | None = None,  # the landmarks' spline, solved already (None: here)
    ) -> torch.Tensor | None:
        """The priors on the logits: (b, q, m) with landmarks and the landmark prior on, else the
        locality prior (q, m), or None when off."""
        config = self.config
        if config.locality_sigma <= 0:
            return None
        if config.uses_landmarks and source_landmarks is not None and driving_landmarks is not None:
            return landmark_bias(
                driving_landmarks,
                source_landmarks,
                config.feature_size,
                config.attention_reduction,
                config.extra_key_values,
                config.locality_sigma,
                config.landmark_flow,
                config.landmark_flow_smoothing,
                config.source_selection_tau,
                spline,
            )
        return locality_bias(
            config.feature_size,
            config.attention_reduction,
            num_sources,
            config.extra_key_values,
            config.locality_sigma,
            device,
        )

    def animate(
        self,
        encoding: SourceEncoding,
        driving_keypoints: Keypoints,
        driving_landmarks: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Driving keypoints (b, k, 2) [and landmarks (b, 68, 2)] -> images (b, 3, H, W). An
        encoding of batch 1 serves any b."""
        return self.render(encoding, driving_keypoints, driving_landmarks=driving_landmarks).image

    def render(
        self,
        encoding: SourceEncoding,
        driving_keypoints: Keypoints,
        warp_only: bool = False,
        driving_landmarks: torch.Tensor | None = None,  # (b, 68, 2) in [-1, 1], NaN = no face
        spline: ThinPlateSpline | None = None,  # the landmarks' spline solved elsewhere (ONNX engine)
    ) -> Rendered:
        """`animate` with its parts. warp_only (training warm-up): the warped sources are the output
        and the generator does not run. `spline`: `thin_plate_spline(driving_landmarks, source
        landmarks (b, n, 68, 2))`, already solved (None: solved here, when the prior needs it)."""
        batch, h = driving_keypoints.positions.shape[0], self.config.feature_size
        queries = rearrange(self.query_encoder(self.heatmaps(driving_keypoints)), "b d h w -> b (h w) d")
        queries = queries + self.positional_encoding(h)  # (b, h*w, d)
        keys, packed = encoding.keys, encoding.packed
        if keys.shape[0] != batch:
            keys, packed = keys.expand(batch, -1, -1), packed.expand(batch, -1, -1)
        source_landmarks = encoding.landmarks
        if source_landmarks is not None and source_landmarks.shape[0] != batch:
            source_landmarks = source_landmarks.expand(batch, -1, -1, -1)
        if (
            spline is None
            and self.config.landmark_flow
            and source_landmarks is not None
            and driving_landmarks is not None
        ):
            # solved once for the attention's prior and the full-resolution base, which both read it
            spline = thin_plate_spline(
                driving_landmarks.float(), source_landmarks.float(), self.config.landmark_flow_smoothing
            )
        bias = self.attention_bias(
            encoding.num_sources, queries.device, source_landmarks, driving_landmarks, spline
        )
        warped = self.warper(queries, keys, packed, bias)  # feature (b, h*w, d')
        warped_sources = None
        if encoding.images is not None:
            images = encoding.images
            if images.shape[0] != batch:
                images = images.expand(batch, -1, -1, -1, -1)
            correspondence = read_correspondence(warped.extra, encoding.num_sources, h)
            base = None
            if (
                self.config.landmark_flow_full_resolution
                and source_landmarks is not None
                and driving_landmarks is not None
            ):
                base = spline_flow_base(
                    driving_landmarks,
                    source_landmarks,
                    h,
                    self.config.image_size,
                    self.config.landmark_flow_smoothing,
                    spline,
                    self.config.landmark_flow_spline_step,
                )
            gate: MotionGate | None = None
            if base is not None and self.config.motion_gate > 0:
                assert source_landmarks is not None and driving_landmarks is not None
                gate = motion_gate(
                    driving_landmarks, source_landmarks, base, self.config.motion_gate, self.config.image_size
                )
            keep_departure = None
            if base is not None and self.config.mouth_spline > 0:
                assert driving_landmarks is not None
                size = self.config.image_size
                keep_departure = 1 - mouth_region(driving_landmarks, size, self.config.mouth_spline)
            warped_sources = warp_sources(
                images,
                correspondence,
                base,
                None if gate is None else gate.gate,
                None if gate is None else gate.nearest,
                self.config.warp_interpolation,
                keep_departure,
                self.config.source_blend_power,
                self.config.source_detail_power,
                self.config.source_detail_sigma,
            )  # (b, 3, H, W)
            if warp_only:
                return Rendered(image=warped_sources, warped_sources=warped_sources, mask=None)
        generated = self.generator(rearrange(warped.feature, "b (h w) c -> b c h w", h=h))
        if warped_sources is None or generated.mask is None:
            return Rendered(image=generated.image, warped_sources=None, mask=None)
        mask = generated.mask
        if (
            self.config.mouth_mask_logit > 0
            and source_landmarks is not None
            and driving_landmarks is not None
        ):
            nearest = (
                gate.nearest if gate is not None else nearest_source(driving_landmarks, source_landmarks)
            )
            bias = mouth_bias(
                driving_landmarks, source_landmarks, nearest, self.config.mouth_mask_logit, mask.shape[-1]
            )
            mask = torch.sigmoid(torch.logit(mask.float(), eps=1e-6) - bias).to(mask.dtype)
        mask = gated_mask(mask, None if gate is None else gate.gate)
        image = blend(mask, warped_sources, generated.image)
        return Rendered(image=image, warped_sources=warped_sources, mask=mask)

    def forward(
        self,
        sources: torch.Tensor,
        driving: torch.Tensor,
        warp_only: bool = False,
        source_landmarks: torch.Tensor | None = None,  # (b, n, 68, 2), for the landmark prior
        driving_landmarks: torch.Tensor | None = None,  # (b, 68, 2)
    ) -> AnimationOutput:
        """Training and evaluation: sources (b, n, 3, H, W), driving (b, 3, H, W), both in [0, 1]."""
        encoding = self.encode_sources(sources, source_landmarks)
        driving_keypoints = self.keypoint_detector(driving)
        rendered = self.render(encoding, driving_keypoints, warp_only, driving_landmarks)
        return AnimationOutput(
            image=rendered.image,
            driving_keypoints=driving_keypoints,
            source_keypoints=encoding.keypoints,
            warped_sources=rendered.warped_sources,
            mask=rendered.mask,
        )
