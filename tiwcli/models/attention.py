"""The one attention function. The flash / memory-efficient / math kernel choice
is PyTorch's `scaled_dot_product_attention`'s, made here and nowhere else.

Shape letters: b batch, q queries, m keys, d key width, e value width.
Single head, as in the paper: the attention map is the correspondence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange


def attend(
    queries: torch.Tensor,  # (b, q, d)
    keys: torch.Tensor,  # (b, m, d)
    values: torch.Tensor,  # (b, m, e)
    key_mask: torch.Tensor | None = None,  # (b, m) bool, True = may be attended to
    bias: torch.Tensor | None = None,  # (q, m) or (b, q, m) float added to the logits (the priors)
) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d) + bias) V -> (b, q, e)."""
    attn_mask = rearrange(key_mask, "b m -> b 1 1 m") if key_mask is not None else None
    if bias is not None:
        pattern = "q m -> 1 1 q m" if bias.dim() == 2 else "b q m -> b 1 q m"
        bias = rearrange(bias.to(queries.dtype), pattern)
        attn_mask = bias if attn_mask is None else bias.masked_fill(~attn_mask, float("-inf"))
    out = F.scaled_dot_product_attention(
        rearrange(queries, "b q d -> b 1 q d"),
        rearrange(keys, "b m d -> b 1 m d"),
        rearrange(values, "b m e -> b 1 m e"),
        attn_mask=attn_mask,
    )
    return rearrange(out, "b 1 q e -> b q e")
