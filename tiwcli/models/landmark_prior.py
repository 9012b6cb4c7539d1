"""Landmark flow prior and source selection on the attention logits (our addition; off in
the paper's presets and in every checkpoint that predates it).

The locality prior (locality_prior.py) centres each query's Gaussian on the query's own
position, so the untrained warp is the identity and any motion has to be learned by Q K^T
from scratch. Face landmarks (68 points, dlib/FAN layout) already say where every facial
point went. When they are given for the driving frame (d_l) and the sources (s_il), each
query x is centred on where the landmarks' motion carries it in source i:

    w_l(x)      = exp(-|x - d_l|^2 / (2 radius^2))
    centre_i(x) = x + sum_l w_l(x) (s_il - d_l) / (background + sum_l w_l(x))

(a zero-order, Gaussian-weighted interpolation of the landmark displacements; far from
the face the `background` weight keeps the identity). The bias is then the locality
prior's Gaussian around that centre. The attention still decides: Q K^T adds its own
departures (teeth, occlusions, the extras), but the easy solution is already a
landmark warp, which the classical baseline shows is a strong one.

With several sources, `source selection` adds -mean_l |s_il - d_l|^2 / (2 tau^2) to every
entry of source i: the source whose pose and expression are nearest the driving frame
takes the mass, instead of a blend of all of them.

Missing landmarks (NaN: no face found) fall back to the identity centre for that frame
or source; such a source ranks with the worst known one in the selection.

Shape letters: b batch, n sources, L landmarks, q = h*w queries, p = (h/r)*(w/r)
entries per source, m = E extras + n p.
"""

from __future__ import annotations

import torch
from einops import rearrange

from tiwcli.models.layers import coordinate_grid
from tiwcli.models.locality_prior import EXTRA_LOGIT


def landmark_flow_centres(
    driving: torch.Tensor,  # (b, L, 2) x, y in [-1, 1], NaN where unknown
    sources: torch.Tensor,  # (b, n, L, 2)
    feature_size: int,
    radius: float,
    background: float,
) -> torch.Tensor:
    """-> (b, n, q, 2): where each query cell's content sits in each source."""
    queries = rearrange(coordinate_grid(feature_size, driving.device, driving.dtype), "h w xy -> (h w) xy")
    known = torch.isfinite(driving).all(-1)[:, None] & torch.isfinite(sources).all(-1)  # (b, n, L)
    driving, sources = torch.nan_to_num(driving), torch.nan_to_num(sources)
    distance2 = (queries[None, :, None] - driving[:, None]).square().sum(-1)  # (b, q, L)
    weights = torch.exp(-distance2 / (2 * radius**2))[:, None] * known[:, :, None]  # (b, n, q, L)
    displacement = (sources - driving[:, None]) * known[..., None]  # (b, n, L, 2)
    pulled = torch.einsum("bnql,bnlc->bnqc", weights, displacement)  # (b, n, q, 2)
    return queries + pulled / (background + weights.sum(-1, keepdim=True))


def source_selection(
    driving: torch.Tensor,  # (b, L, 2)
    sources: torch.Tensor,  # (b, n, L, 2)
    tau: float,
) -> torch.Tensor:
    """-> (b, n) logits bias: 0 for the nearest source, negative for the others. A source without
    landmarks cannot be judged and ranks with the worst known one; without any (or without the
    driving frame's) all are equal."""
    distance2 = (sources - driving[:, None]).square().sum(-1).mean(-1)  # (b, n), NaN when unknown
    logits = -distance2 / (2 * tau**2)
    known = torch.isfinite(logits)
    best = torch.where(known, logits, float("-inf")).amax(dim=1, keepdim=True)  # (b, 1)
    worst = torch.where(known, logits, float("inf")).amin(dim=1, keepdim=True)
    relative = torch.where(known, logits, worst) - best
    return torch.where(known.any(dim=1, keepdim=True), relative, torch.zeros_like(relative))


def landmark_bias(
    driving: torch.Tensor,  # (b, L, 2)
    sources: torch.Tensor,  # (b, n, L, 2)
    feature_size: int,
    reduction: int,
    num_extra: int,
    sigma_cells: float,
    radius: float,
    background: float,
    tau: float,
) -> torch.Tensor:
    """-> (b, q, m) logits bias: Gaussians around the landmark-flow centres (identity centres when
    radius is 0) plus the source selection (none when tau is 0)."""
    batch, num_sources = sources.shape[:2]
    driving, sources = driving.float(), sources.float()
    if radius > 0:
        centres = landmark_flow_centres(driving, sources, feature_size, radius, background)
    else:
        queries = rearrange(coordinate_grid(feature_size, driving.device), "h w xy -> (h w) xy")
        centres = queries.expand(batch, num_sources, -1, -1)  # (b, n, q, 2)
    keys = rearrange(coordinate_grid(feature_size // reduction, driving.device), "h w xy -> (h w) xy")
    sigma = sigma_cells * 2 / feature_size  # in [-1, 1] units
    distance2 = (centres[:, :, :, None] - keys).square().sum(-1)  # (b, n, q, p)
    bias = -distance2 / (2 * sigma**2)
    if tau > 0:
        bias = bias + source_selection(driving, sources, tau)[:, :, None, None]
    bias = rearrange(bias, "b n q p -> b q (n p)")
    extras = torch.full((batch, bias.shape[1], num_extra), EXTRA_LOGIT, device=bias.device)
    return torch.cat([extras, bias], dim=-1)  # (b, q, m)
