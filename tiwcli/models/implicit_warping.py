"""Implicit Warping (Mallya, Wang, Liu, NeurIPS 2022): the whole model.

    sources ─┬─ keypoint detector ─ heatmaps ─┐
             ├──────────────────── key UNet ──┴─ keys   ─┐
             └─ source encoder ──────────────── values ──┤  (computed ONCE per animation)
    driving ── keypoint detector ─ heatmaps ─ query UNet ─ queries ─ attention warper ─ generator ─ image

Source encodings are a `SourceEncoding`, computed by `encode_sources` once and
reused for every driving frame. Several sources only add keys and values.

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
from tiwcli.models.generator import Generator
from tiwcli.models.heatmaps import keypoint_heatmaps
from tiwcli.models.keypoint_encoder import key_encoder, query_encoder
from tiwcli.models.keypoints import KeypointDetector, Keypoints
from tiwcli.models.layers import resize
from tiwcli.models.positional_encoding import FourierPositionalEncoding
from tiwcli.models.source_encoder import SourceEncoder
from tiwcli.models.warper import CrossModalAttentionWarper


@dataclass
class SourceEncoding:
    keypoints: Keypoints  # positions (b, n, k, 2), strengths (b, n, k)
    keys: torch.Tensor  # (b, m, d): learned extras, then n * (h/r) * (w/r) source entries
    packed: torch.Tensor  # (b, m, d' + 3 + d): values, pixels and keys, what attention averages
    num_sources: int


@dataclass
class AnimationOutput:
    image: torch.Tensor  # (b, 3, H, W) in [0, 1]
    driving_keypoints: Keypoints  # (b, k, 2), (b, k)
    source_keypoints: Keypoints  # (b, n, k, 2), (b, n, k)


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

    def encode_sources(self, sources: torch.Tensor) -> SourceEncoding:
        """sources: (b, n, 3, H, W) in [0, 1] -> keys and packed values of all n sources."""
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
        all_keys, packed = self.warper.pack(flat["keys"], flat["values"], flat["pixels"])
        return SourceEncoding(
            keypoints=Keypoints(
                positions=rearrange(keypoints.positions, "(b n) k xy -> b n k xy", b=batch),
                strengths=rearrange(keypoints.strengths, "(b n) k -> b n k", b=batch),
            ),
            keys=all_keys,
            packed=packed,
            num_sources=num_sources,
        )

    def animate(self, encoding: SourceEncoding, driving_keypoints: Keypoints) -> torch.Tensor:
        """Driving keypoints (b, k, 2) -> images (b, 3, H, W). An encoding of batch 1 serves any b."""
        batch, h = driving_keypoints.positions.shape[0], self.config.feature_size
        queries = rearrange(self.query_encoder(self.heatmaps(driving_keypoints)), "b d h w -> b (h w) d")
        queries = queries + self.positional_encoding(h)  # (b, h*w, d)
        keys, packed = encoding.keys, encoding.packed
        if keys.shape[0] != batch:
            keys, packed = keys.expand(batch, -1, -1), packed.expand(batch, -1, -1)
        warped = self.warper(queries, keys, packed)  # (b, h*w, d')
        return self.generator(rearrange(warped, "b (h w) c -> b c h w", h=h))

    def forward(self, sources: torch.Tensor, driving: torch.Tensor) -> AnimationOutput:
        """Training and evaluation: sources (b, n, 3, H, W), driving (b, 3, H, W), both in [0, 1]."""
        encoding = self.encode_sources(sources)
        driving_keypoints = self.keypoint_detector(driving)
        return AnimationOutput(
            image=self.animate(encoding, driving_keypoints),
            driving_keypoints=driving_keypoints,
            source_keypoints=encoding.keypoints,
        )
