"""The mouth prior on the blend mask (our addition; off in every checkpoint that predates it).

Where the driving mouth opens wider than the source's, the inside of the driving mouth is a
region that no warp of that source can fill: the source has lips there, not teeth or a dark
cavity, and a warp stretches them over the opening (the "red hole"). The landmarks say where it
is: the inner-lip polygon of the driving frame (iBUG points 60-67). There the blend mask's logit
is lowered by `mouth_mask_logit` times how much wider the driving mouth is than the nearest
source's (0 at no gap, 1 from MOUTH_GAP_FULL up), so the generator paints it and training has a
reason to teach it to:

    logit(mask') = logit(mask) - mouth_mask_logit * excess * inside(x)

Openings are scale-free: the mean inner-lip gap (61-67, 62-66, 63-65) over the outer eye-corner
distance (36-45), as `tiwcli.inference.motion.mouth_openings`.

Shape letters: b batch, n sources, L landmarks, H W image size.
"""

from __future__ import annotations

import torch

from tiwcli.models.layers import coordinate_grid

INNER_LIPS = (60, 61, 62, 63, 64, 65, 66, 67)  # the polygon, in order around the mouth
MOUTH_GAP_FULL = 0.1  # an opening this much wider than the source's gets the whole bias


def mouth_openings(landmarks: torch.Tensor) -> torch.Tensor:
    """(..., 68, 2) -> (...) inner-lip gap over the outer eye-corner distance; NaN where unknown."""
    gap = (landmarks[..., [61, 62, 63], :] - landmarks[..., [67, 66, 65], :]).norm(dim=-1).mean(-1)
    eyes = (landmarks[..., 36, :] - landmarks[..., 45, :]).norm(dim=-1).clamp_min(1e-6)
    return gap / eyes


def inside_polygon(polygon: torch.Tensor, size: int) -> torch.Tensor:
    """(b, P, 2) polygon in [-1, 1] -> (b, 1, size, size) 1 at the pixel centres inside (even-odd
    rule), 0 outside or where the polygon is unknown (NaN)."""
    points = coordinate_grid(size, polygon.device, polygon.dtype)  # (H, W, 2)
    x, y = points[None, :, :, None, 0], points[None, :, :, None, 1]  # (1, H, W, 1)
    start = polygon[:, None, None]  # (b, 1, 1, P, 2)
    end = torch.roll(polygon, -1, dims=1)[:, None, None]
    x0, y0, x1, y1 = start[..., 0], start[..., 1], end[..., 0], end[..., 1]  # (b, 1, 1, P)
    straddles = (y0 > y) != (y1 > y)  # the edge crosses the pixel's row
    crossing_x = x0 + (y - y0) * (x1 - x0) / torch.where(y1 == y0, torch.ones_like(y1), y1 - y0)
    inside = (straddles & (x < crossing_x)).sum(-1) % 2 == 1  # (b, H, W)
    known = torch.isfinite(polygon).all(-1).all(-1)[:, None, None]
    return (inside & known)[:, None].to(polygon.dtype)


def mouth_bias(
    driving: torch.Tensor,  # (b, L, 2) in [-1, 1], NaN = unknown
    sources: torch.Tensor,  # (b, n, L, 2)
    nearest: torch.Tensor,  # (b, n) one-hot of the nearest source
    strength: float,
    size: int,
) -> torch.Tensor:
    """-> (b, 1, H, W) to subtract from the mask's logit: `strength` x the opening excess inside the
    driving inner lips, 0 elsewhere and without landmarks."""
    driving = driving.float()
    source_opening = (mouth_openings(sources.float()).nan_to_num(0.0) * nearest).sum(dim=1)  # (b,)
    excess = ((mouth_openings(driving) - source_opening) / MOUTH_GAP_FULL).clamp(0, 1).nan_to_num(0.0)
    region = inside_polygon(driving[:, list(INNER_LIPS)], size)  # (b, 1, H, W)
    return strength * excess[:, None, None, None] * region
