"""The side-by-side preview: sources | driving | result, with the model's keypoints drawn.

Each keypoint is a dot whose radius grows with its strength, in the same colour
on every panel, so one can follow a keypoint from the driving frame to the result
(and see which keypoints fade: eyes closing, mouth opening). Drawing is plain PIL.
"""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image, ImageDraw

MIN_PANEL_SIZE = 256  # tiny models work at 64 px: panels are enlarged so the dots stay readable


def keypoint_colors(num_keypoints: int) -> list[tuple[int, int, int]]:
    """Evenly spaced, saturated hues: one fixed colour per keypoint index."""
    colors = []
    for index in range(num_keypoints):
        red, green, blue = colorsys.hsv_to_rgb(index / max(num_keypoints, 1), 0.85, 1.0)
        colors.append((round(red * 255), round(green * 255), round(blue * 255)))
    return colors


def draw_keypoints(image: np.ndarray, positions: np.ndarray, strengths: np.ndarray) -> np.ndarray:
    """Dots on a copy of (H, W, 3) uint8. positions (k, 2) x, y in [-1, 1]; strengths (k,) in (0, 1)."""
    height, width = image.shape[:2]
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    max_radius = max(2.0, min(height, width) / 40)
    for (x, y), strength, color in zip(positions, strengths, keypoint_colors(len(positions)), strict=True):
        column = (float(x) + 1) / 2 * (width - 1)
        row = (float(y) + 1) / 2 * (height - 1)
        radius = 1.0 + max_radius * float(np.clip(strength, 0.0, 1.0))
        box = (column - radius, row - radius, column + radius, row + radius)
        draw.ellipse(box, fill=color, outline=(0, 0, 0))
    return np.asarray(canvas)


def panel_size(image_size: int) -> int:
    return max(image_size, MIN_PANEL_SIZE)


def _panel(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape[:2] == (size, size):
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))


def keypoint_panel(image: np.ndarray, positions: np.ndarray, strengths: np.ndarray, size: int) -> np.ndarray:
    """Resize a square crop to `size` and draw its keypoints: (size, size, 3) uint8."""
    return draw_keypoints(_panel(image, size), positions, strengths)


def preview_frame(
    source_panels: np.ndarray,
    driving: np.ndarray,
    driving_positions: np.ndarray,
    driving_strengths: np.ndarray,
    result: np.ndarray,
    result_positions: np.ndarray,
    result_strengths: np.ndarray,
) -> np.ndarray:
    """One preview frame: (P, (n + 2) P, 3) uint8, P the panel size.

    source_panels: (P, n P, 3), the sources with their keypoints, drawn once per
    animation by `source_strip`. driving / result: square crops with their
    keypoints (k, 2) and strengths (k,). On the result, the keypoints the model was
    driven with (after relative motion) are drawn.
    """
    size = source_panels.shape[0]
    driving_panel = keypoint_panel(driving, driving_positions, driving_strengths, size)
    result_panel = keypoint_panel(result, result_positions, result_strengths, size)
    return np.concatenate([source_panels, driving_panel, result_panel], axis=1)


def source_strip(sources: np.ndarray, positions: np.ndarray, strengths: np.ndarray) -> np.ndarray:
    """The source crops side by side: sources (n, S, S, 3), positions (n, k, 2), strengths (n, k)."""
    size = panel_size(sources.shape[1])
    panels = [
        keypoint_panel(image, p, s, size) for image, p, s in zip(sources, positions, strengths, strict=True)
    ]
    return np.concatenate(panels, axis=1)
