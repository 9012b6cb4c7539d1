"""The full-resolution warp read off the attention (our addition; off in the paper's presets).

The attention map A is a correspondence between driving (query) cells and source cells.
Each source entry's coordinates (x, y) and a one-hot of its source index are packed
into what A averages, so the same single attention call also returns, per query:

    mass_i  = sum of A over the entries of source i            (b, q, n)
    flow_i  = sum of A * (x, y) over source i / mass_i          (b, q, n, 2)  expected position

The flows and masses are upsampled to the image size, each full-resolution source is
`grid_sample`d by its flow, and the warped sources are blended by their masses. The
learned extra K/V carry no coordinates: where they take the mass (nothing in any source
fits: teeth, occlusions), the generator paints instead, through its blend mask:

    output = mask * warped_sources + (1 - mask) * generated

This makes copying the right source pixels the easy thing to learn: the generator no
longer has to repaint every pixel from a 32x32 feature, so a small model on little data
keeps the source person instead of averaging its training faces.

Shape letters: b batch, n sources, q = h*w queries, p = (h/r)*(w/r) entries per source,
E learned extras, H W image size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange, repeat

from tiwcli.models.layers import coordinate_grid

MIN_MASS = 1e-4  # below this a source has no say, and its flow is not defined


def correspondence_columns(batch: int, num_sources: int, side: int, num_extra: int) -> torch.Tensor:
    """What A averages to give flows and masses -> (b, E + n p, 3n): per source i, columns
    (x, y) of its entries (0 elsewhere), then a one-hot of i; zero rows for the extras."""
    coords = rearrange(coordinate_grid(side), "h w xy -> (h w) xy")  # (p, 2)
    entries = coords.shape[0]
    onehot = torch.eye(num_sources).repeat_interleave(entries, dim=0)  # (n p, n)
    positions = onehot[:, :, None] * coords.repeat(num_sources, 1)[:, None, :]  # (n p, n, 2)
    columns = torch.cat([positions.flatten(1), onehot], dim=-1)  # (n p, 3n)
    columns = torch.cat([torch.zeros(num_extra, 3 * num_sources), columns], dim=0)  # (E + n p, 3n)
    return repeat(columns, "m c -> b m c", b=batch)


@dataclass
class Correspondence:
    flows: torch.Tensor  # (b, n, 2, h, w) expected source position (x, y) in [-1, 1]
    masses: torch.Tensor  # (b, n, h, w) attention mass on each source


def read_correspondence(averaged: torch.Tensor, num_sources: int, side: int) -> Correspondence:
    """A · correspondence_columns (b, q, 3n) -> flows and masses on the h x w query grid."""
    sums = rearrange(averaged[..., : 2 * num_sources], "b (h w) (n xy) -> b n xy h w", h=side, xy=2)
    masses = rearrange(averaged[..., 2 * num_sources :], "b (h w) n -> b n h w", h=side)
    flows = sums / masses.clamp_min(MIN_MASS)[:, :, None]
    return Correspondence(flows=flows, masses=masses)


@dataclass
class FlowBase:
    """A flow known at two resolutions (the landmark spline): the warp upsamples the attention's
    departure from `coarse` and adds `fine`, instead of upsampling the attention's flow itself."""

    coarse: torch.Tensor  # (b, n, 2, h, w) on the attention grid
    fine: torch.Tensor  # (b, n, 2, h', w') any finer grid (upsampled to H, W)


def _upsampled(displacement: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(b, n, 2, h, w) displacement -> ((b n), 2, H, W), bilinear."""
    flat = rearrange(displacement, "b n xy h w -> (b n) xy h w")
    if flat.shape[-2:] == (height, width):
        return flat
    return F.interpolate(flat, size=(height, width), mode="bilinear", align_corners=False)


def warp_sources(
    images: torch.Tensor,
    correspondence: Correspondence,
    base: FlowBase | None = None,
    gate: torch.Tensor | None = None,  # (b, 1, H, W) the motion gate (models/motion_gate.py)
    nearest: torch.Tensor | None = None,  # (b, n) one-hot of the nearest source, with `gate`
    interpolation: str = "bilinear",  # grid_sample's mode: bilinear or bicubic (sharper)
    keep_departure: torch.Tensor | None = None,  # (b, 1, H, W) scales the departures (models/mouth_spline.py)
    blend_power: float = 1.0,  # the masses raised to this power before they blend the sources
    detail_power: float = 0.0,  # > 0: the sources' fine detail blended by mass**detail_power
    detail_sigma: float = 2.0,  # the detail band's Gaussian, pixels at a 256 side (ModelConfig's)
) -> torch.Tensor:
    """Full-res sources (b, n, 3, H, W) warped by the flows and blended by mass (to the power
    `blend_power`) -> (b, 3, H, W). With `detail_power`, in two bands: each warped source's fine
    detail (`split_detail`) is blended by the masses to that power instead.
    With a motion gate (and a base) the departures from the base and the blend over sources act
    only where the gate opens: at g = 0 the nearest source, warped by the base alone."""
    batch, _, _, height, width = images.shape
    side = correspondence.flows.shape[-1]
    # upsample the displacement, not the positions: bilinear upsampling clamps at the borders,
    # which would pull the outer pixels of an identity warp inwards. Always in float32, also
    # under bf16 autocast: a bf16 sampling position in [-1, 1] is off by up to half a pixel at 256
    # px (8 bits of mantissa), and bf16 pixels by 0.4%; the warp is cheap next to the networks.
    dtype = torch.float32
    identity = rearrange(coordinate_grid(side, images.device, dtype), "h w xy -> xy h w")
    full_identity = rearrange(coordinate_grid(height, images.device, dtype), "h w xy -> xy h w")
    if base is None:
        flows = _upsampled(correspondence.flows.to(dtype) - identity, height, width) + full_identity
    else:
        fine_identity = rearrange(
            coordinate_grid(base.fine.shape[-1], images.device, dtype), "h w xy -> xy h w"
        )
        departure = _upsampled(correspondence.flows.to(dtype) - base.coarse.to(dtype), height, width)
        if gate is not None:
            departure = departure * repeat(gate.to(dtype), "b 1 H W -> (b n) 1 H W", n=images.shape[1])
        if keep_departure is not None:
            departure = departure * repeat(
                keep_departure.to(dtype), "b 1 H W -> (b n) 1 H W", n=images.shape[1]
            )
        spline = _upsampled(base.fine.to(dtype) - fine_identity, height, width)
        flows = departure + spline + full_identity
    masses = F.interpolate(
        correspondence.masses.to(dtype), size=(height, width), mode="bilinear", align_corners=False
    )
    with torch.autocast(images.device.type, enabled=False):  # grid_sample in float32 (above)
        warped = F.grid_sample(
            rearrange(images, "b n c H W -> (b n) c H W").to(dtype),
            rearrange(flows, "bn xy H W -> bn H W xy"),
            mode=interpolation,
            padding_mode="border",
            align_corners=False,
        )
    if interpolation == "bicubic":  # cubic weights overshoot a little at sharp edges
        warped = warped.clamp(0, 1)
    warped = rearrange(warped, "(b n) c H W -> b n c H W", b=batch)
    weights = _blend_weights(masses, blend_power, gate, nearest)  # (b, n, H, W)
    if detail_power <= 0 or images.shape[1] == 1:
        return (warped * weights[:, :, None]).sum(dim=1)  # (b, 3, H, W)
    coarse, detail = split_detail(warped, detail_sigma / 256)
    detail_weights = _blend_weights(masses, detail_power, gate, nearest)
    return (coarse * weights[:, :, None] + detail * detail_weights[:, :, None]).sum(dim=1)


def _blend_weights(
    masses: torch.Tensor,  # (b, n, H, W)
    power: float,
    gate: torch.Tensor | None,  # (b, 1, H, W)
    nearest: torch.Tensor | None,  # (b, n)
) -> torch.Tensor:
    """Per-pixel weights of the sources (b, n, H, W), summing to 1: the masses to `power`,
    normalised; with a motion gate, the nearest source alone where the gate is shut."""
    if power != 1:  # sharper: the source with most of the mass counts for more
        masses = masses.clamp_min(0) ** power
    weights = masses / masses.sum(dim=1, keepdim=True).clamp_min(MIN_MASS**power)
    if gate is not None and nearest is not None:
        gate = gate.to(weights.dtype)
        weights = (1 - gate) * nearest.to(weights.dtype)[:, :, None, None] + gate * weights
    return weights


DETAIL_SIGMA = 2.0 / 256  # the detail band's Gaussian by default, as a fraction of the image side


def split_detail(
    images: torch.Tensor, sigma_fraction: float = DETAIL_SIGMA
) -> tuple[torch.Tensor, torch.Tensor]:
    """(b, n, 3, H, W) -> (blurred, images - blurred): a separable Gaussian of sigma
    `sigma_fraction` * W pixels, the borders reflected."""
    batch, _, channels, _, width = images.shape
    sigma = sigma_fraction * width
    radius = max(1, round(3 * sigma))
    taps = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    # a depthwise conv, each colour channel its own group: 4-5x faster on a CPU than a batch of
    # single-channel convs (benchmarks/multi-source/detail_cost.py); the groups are the channels, not
    # the sources, so an ONNX export keeps the number of sources dynamic
    flat = rearrange(images, "b n c H W -> (b n) c H W")
    rows = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    columns = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), rows, groups=channels)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"), columns, groups=channels)
    blurred = rearrange(flat, "(b n) c H W -> b n c H W", b=batch)
    return blurred, images - blurred


def blend(mask: torch.Tensor, warped: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
    """mask (b, 1, H, W) in [0, 1]: 1 = the warped sources, 0 = the generator's painting."""
    return mask * warped + (1 - mask) * generated


def gated_mask(mask: torch.Tensor, gate: torch.Tensor | None) -> torch.Tensor:
    """The blend mask with the generator's share (1 - mask) scaled by the motion gate (b, 1, H, W)."""
    return mask if gate is None else 1 - gate.to(mask.dtype) * (1 - mask)
