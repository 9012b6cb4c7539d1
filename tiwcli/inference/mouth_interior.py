"""The driver's mouth interior where the warp has none (issue 27): teeth and a dark cavity instead of
the source's lips stretched over an opening.

The warp can only move pixels the source already has. Where the driver's mouth opens wider than
the source's, the region between the output's inner lips is disoccluded: the source has no teeth
or cavity to move there, and the warp stretches its lips over it (a flat red or pink hole). This
paints that region from the driving frame instead: the driver's mouth, mapped by the affine
transform that takes the driver's inner-lip landmarks onto the output's (the source's, moved by the
driver's motion; the inner contour onto the inner contour, so that no lip edge of the driver's is
painted inside the output's lips: RULE.md, ninth rule), inside the output's inner-lip polygon,
brought to the output's light (the skin around each mouth: its luma by the skins' luma ratio's square
root (a darker skin is partly a darker person, not dimmer light: RULE.md, twentieth rule), its
colour turned from the driver's skin's hue to the output's and scaled by how colourful the output's
skin is next to the driver's, so that a magenta video's teeth are not lavender in a warm portrait
and a black-and-white portrait gets a grey mouth), faded in by how much wider the output's mouth is
than the source's own. Nothing changes where the mouth does not open past the source's.

The teeth are the driver's: a small identity cost, measured on the dev side
(benchmarks/expressions/RULE.md, sixth rule). Self-reenactment scores with it on would copy pixels
from the very frame they are scored against, so `tiw eval` measures the model without it.

Landmarks are dlib's 68 points in crop coordinates [-1, 1] (x right, y down).
Shape letters: b frames, S crop side, h w a box of pixels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from PIL import Image, ImageDraw

LIPS = slice(48, 68)  # outer (48-59) and inner (60-67) lip points
OUTER_LIPS = slice(48, 60)
INNER_LIPS = slice(60, 68)
UPPER_INNER, LOWER_INNER = [61, 62, 63], [67, 66, 65]  # facing pairs of the inner lips
FULL_AT = 0.04  # extra inner-lip gap (crop half-widths) at which the driver's interior is used fully
SUPERSAMPLE = 4  # polygon masks are drawn this much finer, then averaged: soft, anti-aliased edges
SKIN_RING = (1.3, 1.9)  # the skin around the mouth: the outer-lip polygon grown this much about its centre
GAIN_RANGE = (0.5, 2.0)  # bounds of the per-channel colour gain from the driver's light to the output's
# the skins' luma ratio is taken to this power before it scales the driver's interior: a darker skin
# is partly a darker person, not dimmer light, and teeth are not darker on darker-skinned people
# (benchmarks/expressions/RULE.md, twentieth rule); 1: the ratio as it is
LUMA_GAIN_POWER = 0.5
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # Rec. 601
# how the driver's interior is brought to the output's light: "hue-turn" (`hue_turned`, since
# benchmarks/expressions/RULE.md's eighteenth rule: the luma-chroma way with the colour also turned
# from the driver's skin's hue to the output's and fitted to 0-255 without turning its hue; a
# magenta driver's lavender teeth come out white in a warm portrait), "luma-chroma"
# (`to_output_light`, the thirteenth rule's: dev teeth correlation 0.28 -> 0.51, a grey portrait's
# mouth grey), "luma-chroma-fit" (that, then `fit_in_range`) or "gain" (per channel, the skins' means)
COLOUR_TRANSFER = "hue-turn"
# YCbCr's colour axes (Rec. 601, full range): Cb = CB_SCALE (B - Y), Cr = CR_SCALE (R - Y)
CB_SCALE, CR_SCALE = 0.564, 0.713

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels (x1, y1 excluded)


def inner_gap(landmarks: np.ndarray) -> np.ndarray:
    """(..., 68, 2) -> (...,) mean vertical gap between the inner lips, in crop half-widths."""
    return (landmarks[..., LOWER_INNER, 1] - landmarks[..., UPPER_INNER, 1]).mean(-1)


def lips_affine(from_points: np.ndarray, to_points: np.ndarray) -> np.ndarray:
    """(2, 3) least-squares affine taking `from_points` (p, 2) onto `to_points` (p, 2)."""
    design = np.concatenate([from_points, np.ones((len(from_points), 1))], axis=1)  # (p, 3)
    solution, *_ = np.linalg.lstsq(design, to_points, rcond=None)  # (3, 2)
    return solution.T


def points_box(points: np.ndarray, size: int, margin: int = 2) -> Box:
    """The pixel box around `points` (p, 2) in crop coordinates [-1, 1], grown by `margin`, in the crop."""
    pixels = (points + 1) / 2 * size
    x0, y0 = np.floor(pixels.min(0)).astype(int) - margin
    x1, y1 = np.ceil(pixels.max(0)).astype(int) + margin
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), size), min(int(y1), size)


def polygon_mask(points: np.ndarray, size: int, box: Box) -> np.ndarray:
    """(h, w) float32 coverage in [0, 1] of the polygon `points` (p, 2) (crop coordinates [-1, 1])
    over the pixels of `box` of an S x S crop; drawn SUPERSAMPLE times finer, then averaged."""
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), np.float32)
    pixels = ((points + 1) / 2 * size - (x0, y0)) * SUPERSAMPLE  # fine pixel edges within the box
    canvas = Image.new("L", ((x1 - x0) * SUPERSAMPLE, (y1 - y0) * SUPERSAMPLE), 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in pixels.tolist()], fill=255)
    coverage = np.asarray(canvas, np.float32) / 255
    return coverage.reshape(y1 - y0, SUPERSAMPLE, x1 - x0, SUPERSAMPLE).mean(axis=(1, 3))


def skin_ring(landmarks: np.ndarray, size: int) -> tuple[Box, np.ndarray]:
    """The skin around the mouth, between the outer-lip polygon grown by SKIN_RING: (box, (h, w) bool)."""
    lips = landmarks[OUTER_LIPS]
    center = lips.mean(0)
    inner, outer = ((lips - center) * grow + center for grow in SKIN_RING)
    box = points_box(outer, size)
    return box, (polygon_mask(outer, size, box) > 0.5) & (polygon_mask(inner, size, box) < 0.5)


def ring_mean(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """(3,) mean colour of the skin around the mouth of `image` (S, S, 3); None: no such pixels."""
    (x0, y0, x1, y1), ring = skin_ring(landmarks, image.shape[0])
    pixels = image[y0:y1, x0:x1][ring].astype(np.float32)
    return pixels.mean(0) if len(pixels) else None


def colour_gain(
    output: np.ndarray, driving: np.ndarray, output_points: np.ndarray, driving_points: np.ndarray
) -> np.ndarray:
    """(3,) per-channel gain taking the driver's light and white balance to the output's, measured
    on the skin around each mouth (lipstick and teeth left out)."""
    output_skin, driving_skin = ring_mean(output, output_points), ring_mean(driving, driving_points)
    if output_skin is None or driving_skin is None:
        return np.ones(3, np.float32)
    return np.clip((output_skin + 1) / (driving_skin + 1), *GAIN_RANGE)


def luma(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) -> (...,) Rec. 601 luma."""
    return rgb @ LUMA


def luma_gain(output_skin: np.ndarray, driving_skin: np.ndarray) -> float:
    """The skins' luma ratio, bounded by GAIN_RANGE, to the power LUMA_GAIN_POWER: what takes the
    driver's brightness to the output's."""
    ratio = float(np.clip((luma(output_skin) + 1) / (luma(driving_skin) + 1), *GAIN_RANGE))
    return ratio**LUMA_GAIN_POWER


def to_output_light(
    pixels: np.ndarray, output_skin: np.ndarray | None, driving_skin: np.ndarray | None
) -> np.ndarray:
    """(h, w, 3) driver pixels in the output's light: the luma scaled by the skins' luma ratio, the
    colour (each pixel's departure from grey) by how colourful the output's skin is next to the
    driver's, at most 1. A black-and-white portrait gets a grey mouth; a per-channel gain would
    have left the driver's red tongue and tinted the teeth by the difference in skin tone."""
    if output_skin is None or driving_skin is None:
        return pixels
    gain = luma_gain(output_skin, driving_skin)
    colour = np.linalg.norm(output_skin - luma(output_skin)) / max(
        float(np.linalg.norm(driving_skin - luma(driving_skin))), 1e-6
    )
    grey = luma(pixels)[..., None]  # (h, w, 1)
    return gain * grey + min(colour, 1.0) * (pixels - grey)


def fit_in_range(pixels: np.ndarray) -> np.ndarray:
    """(..., 3) float RGB -> the same with each pixel that leaves 0-255 pulled toward its own luma
    (itself clamped to 0-255) just far enough that every channel fits: its hue kept, where clipping
    each channel alone would turn it (a bright pink whose red is cut turns lavender)."""
    grey = np.clip(luma(pixels), 0, 255)[..., None]  # (..., 1)
    colour = pixels - grey
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(colour > 0, (255 - grey) / colour, np.where(colour < 0, -grey / colour, np.inf))
    keep = np.clip(room.min(axis=-1, keepdims=True), 0, 1)  # (..., 1) the share of the colour that fits
    return grey + keep * colour


def _cbcr(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB -> (..., 2) YCbCr's colour (Cb, Cr)."""
    grey = luma(rgb)
    return np.stack([CB_SCALE * (rgb[..., 2] - grey), CR_SCALE * (rgb[..., 0] - grey)], axis=-1)


def _from_luma_cbcr(grey: np.ndarray, cbcr: np.ndarray) -> np.ndarray:
    """(...,) luma and (..., 2) Cb, Cr -> (..., 3) RGB (the inverse of `luma` and `_cbcr`)."""
    blue = grey + cbcr[..., 0] / CB_SCALE
    red = grey + cbcr[..., 1] / CR_SCALE
    green = (grey - LUMA[0] * red - LUMA[2] * blue) / LUMA[1]
    return np.stack([red, green, blue], axis=-1)


def hue_turned(
    pixels: np.ndarray, output_skin: np.ndarray | None, driving_skin: np.ndarray | None
) -> np.ndarray:
    """(h, w, 3) driver pixels in the output's light, white-balanced by hue alone: the luma scaled by
    the skins' luma ratio, the colour (Cb, Cr) turned by the angle from the driver's skin's hue to
    the output's and scaled by how colourful the output's skin is next to the driver's (at most 1),
    then `fit_in_range`. A magenta video's lavender teeth come out near white in a warm portrait's
    cast; a black-and-white portrait still gets a grey mouth."""
    if output_skin is None or driving_skin is None:
        return pixels
    gain = luma_gain(output_skin, driving_skin)
    skin_out, skin_in = _cbcr(output_skin), _cbcr(driving_skin)  # (2,) each
    length_in = float(np.linalg.norm(skin_in))
    colour = min(float(np.linalg.norm(skin_out)) / max(length_in, 1e-6), 1.0)
    if length_in < 1e-6 or colour == 0:
        angle = 0.0  # a grey skin has no hue to turn from or to
    else:
        angle = float(np.arctan2(skin_out[1], skin_out[0]) - np.arctan2(skin_in[1], skin_in[0]))
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    cbcr = _cbcr(pixels) @ turn.T * colour  # (h, w, 2)
    return fit_in_range(_from_luma_cbcr(gain * luma(pixels), cbcr))


def sample_affine(image: np.ndarray, to_image: np.ndarray, box: Box) -> np.ndarray:
    """(h, w, 3) float32: `image` (S, S, 3) read bilinearly where the affine `to_image` (2, 3) takes the
    pixels of `box` (crop coordinates [-1, 1], pixel centres as align_corners=False places them)."""
    size = image.shape[0]
    x0, y0, x1, y1 = box
    xs = (2 * np.arange(x0, x1) + 1) / size - 1
    ys = (2 * np.arange(y0, y1) + 1) / size - 1
    grid_x, grid_y = np.meshgrid(xs, ys)  # (h, w) each
    points = np.stack([grid_x, grid_y, np.ones_like(grid_x)], -1) @ to_image.T  # (h, w, 2)
    grid = torch.from_numpy(points).float()[None]  # (1, h, w, 2)
    frame = rearrange(torch.tensor(image, dtype=torch.float32), "h w c -> 1 c h w")
    sampled = F.grid_sample(frame, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return rearrange(sampled[0], "c h w -> h w c").numpy()


def paint_mouth_interior(
    results: np.ndarray,
    driving: np.ndarray,
    driving_landmarks: np.ndarray,
    output_landmarks: np.ndarray,
    source_landmarks: np.ndarray,
) -> np.ndarray:
    """The output crops with the driver's mouth interior where the mouth opens past the source's.

    results, driving: (b, S, S, 3) uint8 output and driving crops; driving_landmarks (b, 68, 2) the
    driving crops' landmarks, output_landmarks (b, 68, 2) where the output's face is (the source's
    moved by the driver's motion), source_landmarks (68, 2) the source's own; NaN = no face (that
    frame is left as it is). Returns a new (b, S, S, 3) uint8 array.
    """
    painted = results.copy()
    size = results.shape[1]
    if not np.isfinite(source_landmarks).all():
        return painted
    extra = inner_gap(output_landmarks) - inner_gap(source_landmarks)  # (b,)
    for index in range(len(results)):
        fade = float(np.clip(extra[index] / FULL_AT, 0, 1)) if np.isfinite(extra[index]) else 0.0
        lips_out, lips_in = output_landmarks[index, LIPS], driving_landmarks[index, LIPS]
        if fade == 0 or not (np.isfinite(lips_out).all() and np.isfinite(lips_in).all()):
            continue
        inner = output_landmarks[index, INNER_LIPS]
        box = points_box(inner, size)
        x0, y0, x1, y1 = box
        mask = polygon_mask(inner, size, box) * fade  # (h, w)
        if mask.size == 0 or mask.max() == 0:
            continue
        to_driver = lips_affine(inner, driving_landmarks[index, INNER_LIPS])
        warped = sample_affine(driving[index], to_driver, box)  # (h, w, 3)
        if COLOUR_TRANSFER == "gain":
            warped = warped * colour_gain(
                results[index], driving[index], output_landmarks[index], driving_landmarks[index]
            )
        else:
            skins = (
                ring_mean(results[index], output_landmarks[index]),
                ring_mean(driving[index], driving_landmarks[index]),
            )
            if COLOUR_TRANSFER == "hue-turn":
                warped = hue_turned(warped, *skins)
            else:
                warped = to_output_light(warped, *skins)
                if COLOUR_TRANSFER == "luma-chroma-fit":
                    warped = fit_in_range(warped)
        weight = mask[..., None]
        region = results[index, y0:y1, x0:x1].astype(np.float32)
        blended = region * (1 - weight) + warped * weight
        painted[index, y0:y1, x0:x1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return painted
