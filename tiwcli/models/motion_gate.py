"""The motion gate (our addition; off in every checkpoint that predates it): the learned parts act
only where the landmarks say the face moves.

With the spline through the landmarks as the warp's base (landmark_flow_full_resolution), a
driving frame whose landmarks equal a source's should give that source back, as a piecewise-affine
landmark warp does. Three learned parts do not vanish when nothing moves: the attention's
departures from the spline (which blur and, at the crop's edge, pull the border inward), the
attention's blend over several sources, and the generator's painting. On people outside the
training set the departures also cost more than they give (weights/README.md). The gate scales all
three by how far the spline of the nearest source moves each pixel:

    g(x) = 1 - exp(-|T(x) - x|^2 / (2 s^2))      T: spline driving -> nearest source, s: motion_gate

    flow_i(x)  = T_i(x) + g(x) departure_i(x)
    weight_i   = (1 - g) [i = nearest] + g attention mass_i
    output     = warped + g (1 - mask) (generated - warped)

At zero motion g = 0 and the output is the nearest source, pixel for pixel. Where the driving mouth
opens past the source's, the spline moves the lips apart, g is near 1 there, and the generator
may paint the inside of the mouth. The nearest source is the one whose landmarks are nearest the
driving frame's (mean squared distance), as in the source selection.

Shape letters: b batch, n sources, H W image size, L landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange

from tiwcli.models.full_resolution_warp import FlowBase
from tiwcli.models.layers import coordinate_grid


@dataclass
class MotionGate:
    gate: torch.Tensor  # (b, 1, H, W) in [0, 1]: 0 where the nearest source's spline does not move
    nearest: torch.Tensor  # (b, n) one-hot of the source nearest the driving landmarks


def nearest_source(driving: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """Landmarks (b, L, 2) and (b, n, L, 2), NaN = unknown -> (b, n) one-hot of the nearest source
    (unknown sources rank last; with none known, the first)."""
    distance2 = (sources.float() - driving.float()[:, None]).square().sum(-1).mean(-1)  # (b, n)
    distance2 = torch.nan_to_num(distance2, nan=float("inf"))
    nearest = distance2.argmin(dim=1, keepdim=True)  # (b, 1)
    # a comparison, not F.one_hot: one_hot would fix the number of sources in an exported graph
    return (torch.arange(sources.shape[1], device=sources.device) == nearest).to(torch.float32)


def motion_gate(
    driving: torch.Tensor,  # (b, L, 2) in [-1, 1]
    sources: torch.Tensor,  # (b, n, L, 2)
    base: FlowBase,
    scale: float,
    size: int,
) -> MotionGate:
    """The gate at full resolution (size x size) from the spline base of the warp."""
    nearest = nearest_source(driving, sources)  # (b, n)
    fine = base.fine.float()  # (b, n, 2, h', w')
    identity = rearrange(coordinate_grid(fine.shape[-1], fine.device, fine.dtype), "h w xy -> xy h w")
    displacement = torch.einsum("bn,bnchw->bchw", nearest, fine - identity)  # (b, 2, h', w')
    moved2 = displacement.square().sum(dim=1, keepdim=True)  # (b, 1, h', w')
    gate = 1 - torch.exp(-moved2 / (2 * scale**2))
    if gate.shape[-1] != size:
        gate = F.interpolate(gate, size=(size, size), mode="bilinear", align_corners=False)
    return MotionGate(gate=gate, nearest=nearest)
