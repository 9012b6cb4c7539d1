"""The lips follow the spline (our addition; off in every checkpoint that predates it): around the
driving frame's mouth, the attention's departures from the landmark spline are switched off.

With the spline through the landmarks as the warp's base (landmark_flow_full_resolution), the
full-resolution flow is the spline plus the attention's departure from it (models/motion_gate.py):

    flow_i(x) = T_i(x) + g(x) departure_i(x)

The spline is exact at the landmarks: the inner lips part as far as the driving landmarks say. The
departure, read from a 32 x 32 attention grid, is smooth over an 8-pixel cell and averages the upper
and lower lips' opposite motions; measured on dev portraits (benchmarks/expressions/RULE.md, eighth
rule), it takes back a third to a half of the mouth's opening. With `mouth_spline` = k > 0 the
departure is scaled by 1 - m(x), m a soft ellipse around the driving frame's outer lips grown k
times about their centre:

    r(x) = |((x - c) . u) / a, ((x - c) . v) / b|      u: mouth corner 48 -> 54, v: u turned 90 degrees
    m(x) = sigmoid(EDGE (1 - r(x)))                     a, b: the lips' half extents along u, v, times k

Elsewhere (eyes, brows, pose, background) the attention keeps its departures. A frame without a
face (NaN landmarks) has m = 0. Owns no weights: any landmark checkpoint loads with it on or off.

Shape letters: b batch, H W image size. Landmarks: dlib's 68 points in [-1, 1] (x right, y down).
"""

from __future__ import annotations

import torch
from einops import rearrange

from tiwcli.models.layers import pixel_centres

OUTER_LIPS = slice(48, 60)
LEFT_CORNER, RIGHT_CORNER = 48, 54
EDGE = 8.0  # sharpness of the ellipse's edge: m = 0.5 on it, 0.88 a quarter of the way in
MIN_ASPECT = 0.3  # the ellipse's half height is at least this times its half width (closed lips)


def mouth_region(driving_landmarks: torch.Tensor, size: int, grow: float) -> torch.Tensor:
    """(b, 68, 2) driving landmarks -> (b, 1, size, size) in [0, 1]: 1 inside the lips' ellipse
    grown `grow` times, 0 far outside it and for frames without a face."""
    landmarks = driving_landmarks.float()
    lips = landmarks[:, OUTER_LIPS]  # (b, 12, 2)
    along = landmarks[:, RIGHT_CORNER] - landmarks[:, LEFT_CORNER]  # (b, 2)
    along = along / along.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    across = torch.stack([-along[:, 1], along[:, 0]], dim=-1)  # (b, 2) down the face
    centre = lips.mean(dim=1)  # (b, 2)
    offsets = lips - centre[:, None]  # (b, 12, 2)
    u = (offsets * along[:, None]).sum(-1)  # (b, 12)
    v = (offsets * across[:, None]).sum(-1)
    centre = (
        centre + along * (u.amax(1) + u.amin(1))[:, None] / 2 + across * (v.amax(1) + v.amin(1))[:, None] / 2
    )  # the middle of the lips' extent along u and v
    half_width = (u.amax(1) - u.amin(1)).clamp_min(1e-3) / 2 * grow  # (b,)
    half_height = torch.maximum((v.amax(1) - v.amin(1)) / 2 * grow, MIN_ASPECT * half_width)
    # u and v are linear in x and y, so each map is a row part plus a column part: no (b, H, W, 2)
    ticks = pixel_centres(size, landmarks.device, landmarks.dtype)  # (W,) and (H,)
    x = rearrange(ticks[None] - centre[:, 0:1], "b w -> b 1 w")
    y = rearrange(ticks[None] - centre[:, 1:2], "b h -> b h 1")
    width, height = half_width[:, None, None], half_height[:, None, None]
    du = (along[:, 0, None, None] * x + along[:, 1, None, None] * y) / width  # (b, H, W)
    dv = (across[:, 0, None, None] * x + across[:, 1, None, None] * y) / height
    radius = du.square_().add_(dv.square_()).add_(1e-12).sqrt_()
    region = torch.sigmoid(radius.sub_(1).mul_(-EDGE))  # (b, H, W): sigmoid(EDGE (1 - r))
    return torch.nan_to_num(region, nan=0.0)[:, None]  # (b, 1, H, W)
