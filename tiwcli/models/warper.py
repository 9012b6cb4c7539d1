"""Paper part 5: the cross-modal attention warper.

Queries come from the driving keypoints, keys from the source keypoints + image,
values from the source image. A = softmax(Q K^T / sqrt(d)) is the correspondence
and A V the warp. Everything A averages is packed into one tensor so a single
attention call gives A V, A · pixels and A · K together:

    packed = concat(V, pixels, K)                     (b, m, d' + 3 + d)
    out    = A · packed = concat(A V, A · [pixels, K])
    warped = A V + MLP(concat(A · [pixels, K], Q))    (b, q, d')

- residual MLP: carries skew/rotation and colour information that a weighted
  average of V alone learns poorly (paper ablation: +0.23 dB PSNR);
- extra learned (key, value) pairs, appended to every K/V, for places no source
  location fits (teeth, newly visible regions);
- dropout over source K/V entries in training pushes the model to use them;
- spatial reduction (pool K and V, as PVT) is done before packing, by the caller;
- optional extra columns after the keys (the full-resolution warp's coordinates and
  source one-hots, see full_resolution_warp.py) ride along in the same call and come
  back averaged, untouched by the MLP;
- optional locality prior on the logits (locality_prior.py).

Shape letters: b batch, q = h*w queries, m = extras + sources*(h/r)*(w/r) keys,
d key width, e = d' + 3 + d packed width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import repeat
from torch import nn

from tiwcli.config import ModelConfig
from tiwcli.models.attention import attend


@dataclass
class WarperOutput:
    feature: torch.Tensor  # (b, q, d') the warped feature
    extra: torch.Tensor  # (b, q, c) A · the packed columns after the keys (c = 0 when none)


class CrossModalAttentionWarper(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.value_dim = config.value_dim
        self.key_dim = config.key_dim
        self.source_dropout = config.source_dropout
        self.num_extra = config.extra_key_values
        self.extra_keys = nn.Parameter(torch.randn(config.extra_key_values, config.key_dim) * 0.02)
        self.extra_values = nn.Parameter(torch.randn(config.extra_key_values, config.value_dim) * 0.02)
        self.extra_pixels = nn.Parameter(torch.zeros(config.extra_key_values, 3))
        self.residual = nn.Sequential(
            nn.Linear(2 * config.key_dim + 3, config.residual_hidden),
            nn.SiLU(),
            nn.Linear(config.residual_hidden, config.value_dim),
        )

    def pack(
        self,
        keys: torch.Tensor,  # (b, m, d) with positional encoding
        values: torch.Tensor,  # (b, m, d')
        pixels: torch.Tensor,  # (b, m, 3) in [-1, 1]
        extra_columns: torch.Tensor | None = None,  # (b, E + m, c) averaged along, extras included
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Prepend the learned extras -> keys (b, E + m, d), packed (b, E + m, d' + 3 + d [+ c])."""
        batch = keys.shape[0]
        extra_packed = torch.cat([self.extra_values, self.extra_pixels, self.extra_keys], dim=-1)
        all_keys = torch.cat([repeat(self.extra_keys, "m d -> b m d", b=batch), keys], dim=1)
        packed = torch.cat([values, pixels, keys], dim=-1)
        all_packed = torch.cat([repeat(extra_packed, "m e -> b m e", b=batch), packed], dim=1)
        if extra_columns is not None:
            all_packed = torch.cat([all_packed, extra_columns.to(all_packed)], dim=-1)
        return all_keys, all_packed

    def forward(
        self,
        queries: torch.Tensor,  # (b, q, d) with positional encoding
        keys: torch.Tensor,  # (b, m, d) from `pack`
        packed: torch.Tensor,  # (b, m, e) from `pack`
        bias: torch.Tensor | None = None,  # (q, m) or (b, q, m) logits bias (locality/landmark priors)
    ) -> WarperOutput:
        """-> warped feature (b, q, d') and the averaged extra columns."""
        key_mask = self._source_dropout_mask(keys) if self.training and self.source_dropout > 0 else None
        out = attend(queries, keys, packed, key_mask, bias)  # (b, q, e)
        end = self.value_dim + 3 + self.key_dim
        warped, pixels_and_keys = out[..., : self.value_dim], out[..., self.value_dim : end]
        feature = warped + self.residual(torch.cat([pixels_and_keys, queries], dim=-1))
        return WarperOutput(feature=feature, extra=out[..., end:])

    def _source_dropout_mask(self, keys: torch.Tensor) -> torch.Tensor:
        """(b, m) bool: extras always kept, each source entry dropped with p = source_dropout."""
        batch, entries = keys.shape[:2]
        keep = torch.rand(batch, entries, device=keys.device) >= self.source_dropout
        keep[:, : self.num_extra] = True
        return keep
