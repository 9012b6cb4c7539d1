"""Landmark flow prior and source selection on the attention logits (our addition; off in
the paper's presets and in every checkpoint that predates it).

The locality prior (locality_prior.py) centres each query's Gaussian on the query's own
position, so the untrained warp is the identity and any motion has to be learned by Q K^T
from scratch. Face landmarks (68 points, dlib/FAN layout) already say where every facial
point went. When they are given for the driving frame (d_l) and the sources (s_il), each
query x is centred on T_i(x), the thin-plate spline that maps the driving landmarks onto
source i's (and the crop's corners and edge midpoints onto themselves, so the background
stays):

    T_i(x) = a_0 + A x + sum_k w_k phi(|x - p_k|),   phi(r) = r^2 log r^2,   T_i(p_k) ~ t_k

solved per frame and source with a small ridge (`smoothing`) on the kernel, which also
copes with landmarks that coincide (closed lips). The spline is exact at the landmarks,
so lips part and eyes close as the landmarks say; a smooth average of nearby landmark
displacements (our first try) cancels the upper and lower lips' opposite motions and
keeps the mouth shut. The bias is then the locality prior's Gaussian around T_i(x). The
attention still decides: Q K^T adds its own departures (teeth, occlusions, the extras).

With several sources, `source selection` adds -mean_l |s_il - d_l|^2 / (2 tau^2) to every
entry of source i: the source whose pose and expression are nearest the driving frame
takes the mass, instead of a blend of all of them.

With `landmark_flow_full_resolution` the full-resolution warp also reads the spline at (nearly)
every pixel: its flow is the spline plus the attention's departure from the spline's centres,
so a lip that the spline parts by a few pixels is not blurred over an 8-pixel attention cell.

Missing landmarks (NaN: no face found) fall back to the identity centre for that frame
or source; such a source ranks with the worst known one in the selection.

Shape letters: b batch, n sources, L landmarks, q = h*w queries, p = (h/r)*(w/r)
entries per source, m = E extras + n p.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from einops import rearrange

from tiwcli.models.full_resolution_warp import FlowBase
from tiwcli.models.layers import coordinate_grid, pixel_centres
from tiwcli.models.locality_prior import EXTRA_LOGIT

# the spline base of the full-resolution warp is read every SPLINE_STEP pixels (then bilinear) by
# default (ModelConfig.landmark_flow_spline_step): the spline is smooth, and at every pixel its
# (b, n, H*W, 76) kernel would dominate the memory
SPLINE_STEP = 2


def _border_points(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Corners and edge midpoints of the crop, (8, 2): pinned in place, so the background stays."""
    ticks = (-1.0, 0.0, 1.0)
    points = [(x, y) for y in ticks for x in ticks if (x, y) != (0.0, 0.0)]
    return torch.tensor(points, device=device, dtype=dtype)


def _radial(distance2: torch.Tensor) -> torch.Tensor:
    """The thin-plate kernel r^2 log r^2 of squared distances (0 at r = 0)."""
    if distance2.requires_grad:
        return distance2 * torch.log(distance2.clamp_min(1e-12))
    # in place: one new (b, n, q, K) tensor instead of three (the fine grid's is 16384 x 76 a source)
    return distance2.clamp_min(1e-12).log_().mul_(distance2)


@dataclass
class ThinPlateSpline:
    """The spline driving -> source i, solved per frame and source (`thin_plate_spline`) and read
    anywhere (`spline_at`). Solved apart so that a caller may solve it elsewhere (the ONNX engine
    does: ONNX has no linear solve) and hand it to `ImplicitWarping.render`."""

    controls: torch.Tensor  # (b, n, K, 2) the driving landmarks, then the crop's pinned border
    weights: torch.Tensor  # (b, n, K, 2) of the radial kernel
    coefficients: torch.Tensor  # (b, n, 3, 2) of the affine part (1, x, y)
    known: torch.Tensor  # (b, n) bool: landmarks of the frame and of source i are both known
    # spline_at's readings by grid side: the attention's prior and the full-resolution base both read
    # the coarse grid, and it is read once
    readings: dict[int, torch.Tensor] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """controls, weights, coefficients, known: what defines the spline (the ONNX graph's inputs)."""
        return self.controls, self.weights, self.coefficients, self.known


def thin_plate_spline(
    driving: torch.Tensor,  # (b, L, 2) x, y in [-1, 1], NaN where unknown
    sources: torch.Tensor,  # (b, n, L, 2)
    smoothing: float,
) -> ThinPlateSpline:
    """The thin-plate spline through the landmarks (driving -> source) and the crop's pinned border,
    exact at the landmarks up to `smoothing` (ridge on the kernel). A frame or source without
    landmarks gets placeholder points (any distinct ones) and `known` False."""
    batch, num_sources, count = sources.shape[:3]
    known = torch.isfinite(driving).all(-1).all(-1)[:, None] & torch.isfinite(sources).all(-1).all(
        -1
    )  # (b, n)
    angles = torch.arange(count, device=driving.device, dtype=driving.dtype) * (2 * torch.pi / count)
    placeholder = 0.5 * torch.stack([angles.cos(), angles.sin()], dim=-1)  # (L, 2) any distinct points
    driving = torch.where(
        known[..., None, None], driving[:, None].expand_as(sources).nan_to_num(), placeholder
    )
    sources = torch.where(known[..., None, None], sources.nan_to_num(), placeholder)  # (b, n, L, 2)
    border = _border_points(driving.device, driving.dtype).expand(batch, num_sources, -1, -1)
    controls = torch.cat([driving, border], dim=2)  # (b, n, K, 2)
    targets = torch.cat([sources, border], dim=2)
    size = controls.shape[2]
    kernel = _radial((controls[:, :, :, None] - controls[:, :, None]).square().sum(-1))  # (b, n, K, K)
    kernel = kernel + smoothing * torch.eye(size, device=kernel.device, dtype=kernel.dtype)
    affine = torch.cat([torch.ones_like(controls[..., :1]), controls], dim=-1)  # (b, n, K, 3)
    system = torch.cat(
        [
            torch.cat([kernel, affine], dim=-1),
            torch.cat([affine.transpose(-1, -2), torch.zeros_like(kernel[..., :3, :3])], dim=-1),
        ],
        dim=-2,
    )  # (b, n, K + 3, K + 3)
    right = torch.cat([targets, torch.zeros_like(targets[..., :3, :])], dim=2)  # (b, n, K + 3, 2)
    solution = torch.linalg.solve(system.double(), right.double()).to(controls.dtype)
    weights, coefficients = solution[..., :size, :], solution[..., size:, :]  # (b, n, K, 2), (b, n, 3, 2)
    return ThinPlateSpline(controls=controls, weights=weights, coefficients=coefficients, known=known)


def spline_at(spline: ThinPlateSpline, feature_size: int) -> torch.Tensor:
    """-> (b, n, q, 2): the spline read at each cell of a feature_size grid; the identity where
    `known` is False. Read once per side and spline (`ThinPlateSpline.readings`)."""
    reading = spline.readings.get(feature_size)
    if reading is not None:
        return reading
    controls = spline.controls
    queries = rearrange(coordinate_grid(feature_size, controls.device, controls.dtype), "h w xy -> (h w) xy")
    ones = torch.ones_like(queries[:, :1])
    # |x - p|^2 = |x|^2 + |p|^2 - 2 x.p as one matrix product of (x, |x|^2, 1) and (-2 p, 1, |p|^2):
    # not a (b, n, q, K, 2) difference, nor three (b, n, q, K) sums (the full-resolution warp reads
    # 128 x 128 queries)
    query_terms = torch.cat([queries, queries.square().sum(-1, keepdim=True), ones], dim=-1)  # (q, 4)
    control_terms = torch.cat(
        [-2 * controls, torch.ones_like(controls[..., :1]), controls.square().sum(-1, keepdim=True)], dim=-1
    )  # (b, n, K, 4)
    distance2 = query_terms @ control_terms.transpose(-1, -2)  # (b, n, q, K)
    if distance2.requires_grad:
        at_queries = _radial(distance2.clamp_min(0))  # (b, n, q, K)
    else:  # in place: the product's buffer becomes the kernel (r^2 below 1e-12 reads as 1e-12: 0 to 3e-11)
        at_queries = distance2.clamp_min_(1e-12).log().mul_(distance2)
    query_affine = torch.cat([ones, queries], dim=-1)  # (q, 3)
    # (K, 2)-wide products as (2, K) x (K, q) read transposed: the same sums, about 2x faster on a
    # CPU than (q, K) x (K, 2), whose two output columns BLAS handles poorly
    radial = (spline.weights.mT @ at_queries.mT).mT  # (b, n, q, 2)
    centres = radial + (spline.coefficients.mT @ query_affine.mT).mT  # (b, n, q, 2)
    reading = torch.where(spline.known[..., None, None], centres, queries)
    spline.readings[feature_size] = reading
    return reading


def thin_plate_centres(
    driving: torch.Tensor,  # (b, L, 2) x, y in [-1, 1], NaN where unknown
    sources: torch.Tensor,  # (b, n, L, 2)
    feature_size: int,
    smoothing: float,
) -> torch.Tensor:
    """-> (b, n, q, 2): the thin-plate spline through the landmarks (driving -> source) and the
    crop's pinned border, read at each query cell. Exact at the landmarks up to `smoothing`
    (ridge on the kernel), so lips part and eyes close as the landmarks say; a frame or source
    without landmarks gets the identity."""
    return spline_at(thin_plate_spline(driving, sources, smoothing), feature_size)


def spline_flow_base(
    driving: torch.Tensor,  # (b, L, 2)
    sources: torch.Tensor,  # (b, n, L, 2)
    feature_size: int,
    image_size: int,
    smoothing: float,
    spline: ThinPlateSpline | None = None,  # solved already (None: solved here)
    step: int = SPLINE_STEP,  # the fine grid's spacing in pixels
) -> FlowBase:
    """The spline (as `thin_plate_centres`) on the attention grid and every `step` pixels, as
    the full-resolution warp's base (ModelConfig.landmark_flow_full_resolution)."""
    if spline is None:
        spline = thin_plate_spline(driving.float(), sources.float(), smoothing)
    coarse = spline_at(spline, feature_size)  # (b, n, h*w, 2)
    fine_size = max(image_size // step, feature_size)
    fine = spline_at(spline, fine_size)  # (b, n, h'*w', 2)
    return FlowBase(
        coarse=rearrange(coarse, "b n (h w) xy -> b n xy h w", h=feature_size),
        fine=rearrange(fine, "b n (h w) xy -> b n xy h w", h=fine_size),
    )


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
    flow: bool,
    smoothing: float,
    tau: float,
    spline: ThinPlateSpline | None = None,  # with `flow`: solved already (None: solved here)
) -> torch.Tensor:
    """-> (b, q, m) logits bias: Gaussians around the landmark-flow centres (identity centres when
    `flow` is off) plus the source selection (none when tau is 0)."""
    batch, num_sources = sources.shape[:2]
    driving, sources = driving.float(), sources.float()
    if flow:
        if spline is None:
            spline = thin_plate_spline(driving, sources, smoothing)
        centres = spline_at(spline, feature_size)
    else:
        queries = rearrange(coordinate_grid(feature_size, driving.device), "h w xy -> (h w) xy")
        centres = queries.expand(batch, num_sources, -1, -1)  # (b, n, q, 2)
    side = feature_size // reduction
    ticks = pixel_centres(side, driving.device, centres.dtype)  # key x or y
    scale = -1 / (2 * (sigma_cells * 2 / feature_size) ** 2)  # sigma in [-1, 1] units
    # the Gaussian is separable over the key grid: bias[.., ky, kx] = y part [ky] + x part [kx],
    # so only (b, n, q, side) squares are computed, not (b, n, q, side^2) distances
    along_x = (centres[..., 0:1] - ticks).square() * scale  # (b, n, q, side)
    along_y = (centres[..., 1:2] - ticks).square() * scale
    if tau > 0:
        along_y = along_y + source_selection(driving, sources, tau)[:, :, None, None]
    queries = centres.shape[2]
    bias = torch.empty(batch, queries, num_extra + num_sources * side * side, device=centres.device)
    bias[..., :num_extra] = EXTRA_LOGIT
    grid = rearrange(along_y[..., :, None] + along_x[..., None, :], "b n q ky kx -> b q (n ky kx)")
    bias[..., num_extra:] = grid
    return bias  # (b, q, m)
