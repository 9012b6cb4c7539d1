"""Per-frame face measures for issue 27's benchmark (`measure.py`): teeth, head pose, sharpness.

Pure functions of one image and/or its 68 iBUG landmarks ((68, 2) pixel x, y, as dlib gives them);
no model, no face detector, so they are tested on their own (tests/evaluation/test_expression_measures.py).

- teeth share: the share of the inner-lip polygon's pixels (points 60-67) that are bright and
  unsaturated (HSV value > TEETH_VALUE and saturation < TEETH_SATURATION): teeth are whitish, lips,
  tongue and the mouth's dark cavity are not. 0 for a closed mouth (an empty polygon).
- head pose proxies, in the face's own frame (the eye line is its x axis, so roll does not leak into
  yaw or pitch) and scale-free:
  - roll: the angle of the line from the outer eye corner 36 to 45, in degrees, positive when
    point 45 (the image-right one) is lower, i.e. the face turned clockwise in the image;
  - yaw: the nose tip's (30) offset along the eye line from the outer eye corners' midpoint,
    over the eye distance (0 facing the camera; its sign follows the nose, image-right positive);
  - pitch: the nose tip's distance below the eye line over the upper lip's (51) distance below
    it (the upper lip, not the chin: the chin drops when the mouth opens). It grows as the head
    tips down (the nose tip comes toward the mouth), shrinks as it tips up.
- gaze: the pupil's horizontal position within each eye, 0 at its outer-left corner (image left:
  point 36 or 42), 1 at the other (39 or 45), the mean over both eyes: the darkest column of the
  band between the lids (the eye polygon), each column's mean grey over its pixels in the band. A
  centroid of the darkest pixels is pulled by lashes and lid shadows when the eye squints; the
  column of the iris stays the darkest. NaN where an eye's band has fewer than 3 columns.
- sharpness: the variance of the Laplacian of the grey image inside the box around the 68 points
  (the face), or the central half of the image without landmarks; compared as output / real.
"""

from __future__ import annotations

import numpy as np
from matplotlib.path import Path as MplPath
from scipy import ndimage

TEETH_VALUE = 0.6  # HSV value (max of R, G, B over 255) above which a pixel is bright
TEETH_SATURATION = 0.35  # HSV saturation ((max - min) / max) below which a pixel is unsaturated
INNER_LIPS = slice(60, 68)  # iBUG 60-67: the inner lip contour
OUTER_EYE_CORNERS = (36, 45)
NOSE_TIP = 30
UPPER_LIP_TOP = 51
EYES = (slice(36, 42), slice(42, 48))  # iBUG: each eye's corner, upper lid, corner, lower lid


def inner_lip_mask(shape: tuple[int, ...], landmarks: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels whose centres lie inside the inner-lip polygon (points 60-67) of an
    image of `shape`; none when the lips touch (under a pixel of area: its edge alone is not a mouth)."""
    return polygon_mask(shape, np.asarray(landmarks, np.float64)[INNER_LIPS])


def polygon_mask(shape: tuple[int, ...], polygon: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels whose centres lie inside `polygon` (p, 2) pixel x, y; none when its
    area is under a pixel."""
    height, width = shape[:2]
    x, y = polygon[:, 0], polygon[:, 1]
    if abs(x @ np.roll(y, -1) - y @ np.roll(x, -1)) / 2 < 1:  # shoelace area
        return np.zeros((height, width), bool)
    x0, y0 = np.clip(np.floor(polygon.min(axis=0)).astype(int), 0, [width, height])
    x1, y1 = np.clip(np.ceil(polygon.max(axis=0)).astype(int) + 1, 0, [width, height])
    mask = np.zeros((height, width), bool)
    if x1 <= x0 or y1 <= y0:
        return mask
    ys, xs = np.mgrid[y0:y1, x0:x1]  # only the polygon's box is tested
    centres = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
    mask[y0:y1, x0:x1] = MplPath(polygon).contains_points(centres).reshape(xs.shape)
    return mask


def hsv_saturation(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) HSV saturation in [0, 1]."""
    rgb = image.astype(np.float64) / 255
    value = rgb.max(axis=-1)
    return (value - rgb.min(axis=-1)) / np.maximum(value, 1e-6)


def bright_unsaturated(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) bool: HSV value > TEETH_VALUE and saturation < TEETH_SATURATION."""
    value = image.astype(np.float64).max(axis=-1) / 255
    return (value > TEETH_VALUE) & (hsv_saturation(image) < TEETH_SATURATION)


def teeth_share(image: np.ndarray, landmarks: np.ndarray) -> float:
    """The share of the inner-lip polygon that looks like teeth; 0 when the polygon is empty (closed)."""
    mask = inner_lip_mask(image.shape, landmarks)
    if not mask.any():
        return 0.0
    return float(bright_unsaturated(image)[mask].mean())


def pupil_position(image: np.ndarray, landmarks: np.ndarray) -> float:
    """The gaze proxy above: the darkest column's place between each eye's corners, mean of both."""
    grey = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    points = np.asarray(landmarks, np.float64)
    positions = []
    for eye in EYES:
        polygon = points[eye]
        mask = polygon_mask(grey.shape, polygon)
        counts = mask.sum(axis=0)
        columns = np.nonzero(counts >= 1)[0]
        if len(columns) < 3:
            return float("nan")
        means = (grey * mask).sum(axis=0)[columns] / counts[columns]
        smooth = np.convolve(means, np.ones(3) / 3, mode="same")
        smooth[[0, -1]] = means[[0, -1]]  # the ends average over fewer columns: not smoothed
        darkest = columns[int(np.argmin(smooth))]
        start, end = polygon[0, 0], polygon[3, 0]
        positions.append((darkest - start) / max(end - start, 1e-6))
    return float(np.mean(positions))


def head_pose(landmarks: np.ndarray) -> np.ndarray:
    """(68, 2) landmarks -> (3,) yaw, pitch, roll proxies (yaw and pitch unitless, roll in degrees)."""
    points = np.asarray(landmarks, np.float64)
    right_eye, left_eye = points[OUTER_EYE_CORNERS[0]], points[OUTER_EYE_CORNERS[1]]
    eye_line = left_eye - right_eye
    eye_distance = max(float(np.linalg.norm(eye_line)), 1e-6)
    along = eye_line / eye_distance  # the face's x axis in the image
    down = np.array([-along[1], along[0]])  # its y axis: the eye line turned 90 degrees, pointing down
    nose = points[NOSE_TIP] - (right_eye + left_eye) / 2
    lip_depth = max(float((points[UPPER_LIP_TOP] - (right_eye + left_eye) / 2) @ down), 1e-6)
    yaw = float(nose @ along) / eye_distance
    pitch = float(nose @ down) / lip_depth
    roll = float(np.degrees(np.arctan2(eye_line[1], eye_line[0])))
    return np.array([yaw, pitch, roll])


def face_box(landmarks: np.ndarray | None, shape: tuple[int, ...]) -> tuple[slice, slice]:
    """(rows, columns) of the box around the 68 points, clipped to the image; the central half
    of the image when there are no landmarks."""
    height, width = shape[:2]
    if landmarks is None:
        return slice(height // 4, height - height // 4), slice(width // 4, width - width // 4)
    points = np.asarray(landmarks, np.float64)
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + 1
    return slice(max(y0, 0), min(y1, height)), slice(max(x0, 0), min(x1, width))


def laplacian_variance(image: np.ndarray, box: tuple[slice, slice]) -> float:
    """Variance of the Laplacian of the grey (H, W, 3) uint8 image inside `box` (rows, columns).
    The Laplacian is taken over the whole image first, so the box's edges are not borders."""
    grey = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return float(ndimage.laplace(grey)[box].var())


def sharpness_ratio(output: np.ndarray, real: np.ndarray, landmarks: np.ndarray | None) -> float:
    """The output's Laplacian variance over the real frame's, both on the real face's box (1: as sharp)."""
    box = face_box(landmarks, real.shape)
    return laplacian_variance(output, box) / max(laplacian_variance(real, box), 1e-9)
