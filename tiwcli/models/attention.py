"""The one attention function. The flash / memory-efficient / math kernel choice
is PyTorch's `scaled_dot_product_attention`'s, made here and nowhere else, except for inference on
the CPU without a key mask: there one fused product with the bias and a softmax written over its
own logits (`_attend_in_place`) skip SDPA's copies and its fully-masked-row check, a (b, q, m) pass
each, which cost a 2-core CPU about 2 ms of a frame's 11 ms of attention (benchmarks/cpu-latency/).

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
    if key_mask is None and queries.device.type == "cpu" and not _tracked(queries, keys, values, bias):
        return _attend_in_place(queries, keys, values, bias)
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


def _tracked(*tensors: torch.Tensor | None) -> bool:
    """Whether autograd, a tracer or an exporter watches: then the functional path."""
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        return True
    compiling = getattr(torch.compiler, "is_compiling", None)  # torch >= 2.3
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or bool(compiling and compiling())


def _attend_in_place(
    queries: torch.Tensor,  # (b, q, d)
    keys: torch.Tensor,  # (b, m, d)
    values: torch.Tensor,  # (b, m, e)
    bias: torch.Tensor | None,  # (q, m) or (b, q, m), finite
) -> torch.Tensor:
    """`attend` without a key mask, as one (b, q, m) buffer: the logits, then their softmax."""
    scale = queries.shape[-1] ** -0.5
    if bias is None:
        logits = torch.bmm(queries, keys.transpose(1, 2)).mul_(scale)  # (b, q, m)
    else:
        logits = torch.baddbmm(bias.to(queries.dtype), queries, keys.transpose(1, 2), alpha=scale)
    torch.softmax(logits, dim=-1, out=logits)
    return torch.bmm(logits, values)  # (b, q, e)
