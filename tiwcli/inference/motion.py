"""Motion transfer and pose comparisons on keypoints: what the driving video does to the source.

Motion transfer (`AnimateOptions.mode`):
- absolute: the model is driven with the keypoints detected on each driving frame.
- relative (default, as in FOMM): the driving keypoints move the source's own
  keypoints, so the source keeps its face shape and only the motion is copied:
      position = source + (driving - reference)
      strength = sigmoid(logit(source) + logit(driving) - logit(reference))
  The reference is the first driving frame, or with `find_best_frame` the driving
  frame whose keypoints are closest to the source's once both sets are centred
  and scaled to unit spread (FOMM normalises landmarks the same way). Strengths
  are made relative in log-odds: the result stays inside (0, 1) without clamping,
  and equals the source's strength on the reference frame. With several sources,
  the first is the anchor: its keypoints are the ones moved.

A source video is reduced to a few frames by farthest-point sampling over each frame's keypoints
(centred, scaled, plus strengths): each new pick is the frame least like the ones already chosen,
so the sources cover as many poses and expressions as the video offers.

The landmark prior's 68 landmarks move the same way as the keypoints (`motion_landmarks`).

Shape letters: b batch, k keypoints, t frames, d descriptor size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from tiwcli.models import Keypoints

if TYPE_CHECKING:
    from tiwcli.faces.crop import CropBox


@dataclass(frozen=True)
class KeypointArrays:
    """Keypoints as numpy, for drawing and small per-frame records."""

    positions: np.ndarray  # (..., k, 2) x, y in [-1, 1]
    strengths: np.ndarray  # (..., k) in (0, 1)

    @classmethod
    def from_torch(cls, keypoints: Keypoints) -> KeypointArrays:
        return cls(
            positions=keypoints.positions.detach().float().cpu().numpy(),
            strengths=keypoints.strengths.detach().float().cpu().numpy(),
        )


def relative_keypoints(source: Keypoints, driving: Keypoints, reference: Keypoints) -> Keypoints:
    """FOMM-style relative motion. source, reference: (k, 2)/(k,); driving: (b, k, 2)/(b, k)."""
    positions = source.positions + (driving.positions - reference.positions)  # (b, k, 2)
    log_odds = _logit(source.strengths) + _logit(driving.strengths) - _logit(reference.strengths)
    return Keypoints(positions=positions, strengths=torch.sigmoid(log_odds))  # (b, k)


def _logit(strengths: torch.Tensor) -> torch.Tensor:
    return torch.logit(strengths.float(), eps=1e-4)


def normalized_positions(positions: np.ndarray) -> np.ndarray:
    """Centre (..., k, 2) keypoints and scale them to unit RMS spread: pose, not placement or size."""
    centred = positions - positions.mean(axis=-2, keepdims=True)
    spread = np.sqrt((centred**2).sum(axis=-1).mean(axis=-1))[..., None, None]
    return centred / np.maximum(spread, 1e-6)


def best_reference_frame(source_positions: np.ndarray, driving_positions: np.ndarray) -> int:
    """Index of the driving frame (t, k, 2) whose normalised keypoints are closest to the source's (k, 2)."""
    source = normalized_positions(source_positions)
    distances = ((normalized_positions(driving_positions) - source) ** 2).sum(axis=(-1, -2))  # (t,)
    return int(np.argmin(distances))


def farthest_point_sampling(descriptors: np.ndarray, count: int) -> list[int]:
    """Pick `count` rows of (t, d) that are as different as possible, starting from row 0."""
    count = min(count, len(descriptors))
    chosen = [0]
    distances = ((descriptors - descriptors[0]) ** 2).sum(axis=1)  # (t,) to the nearest chosen row
    while len(chosen) < count:
        index = int(np.argmax(distances))
        if distances[index] <= 0:  # only duplicates remain: take unchosen frames in order
            index = next(i for i in range(len(descriptors)) if i not in chosen)
        chosen.append(index)
        distances = np.minimum(distances, ((descriptors - descriptors[index]) ** 2).sum(axis=1))
        distances[chosen] = -1.0
    return chosen


# landmarks (the landmark prior): 68 points per face, in a crop's [-1, 1]


def landmarks_in_crop(landmarks: np.ndarray | None, box: CropBox | None, size: int) -> np.ndarray:
    """(68, 2) frame-pixel landmarks -> (68, 2) float32 in the crop's [-1, 1] (the convention of
    `tiw preprocess`); `box` None: the frame itself is the crop, `size` pixels wide. NaN: no face."""
    if landmarks is None:
        return np.full((68, 2), np.nan, np.float32)
    if box is None:
        return (np.asarray(landmarks, np.float32) / size * 2 - 1).astype(np.float32)
    corner = np.array([box.x0, box.y0])
    return ((np.asarray(landmarks, np.float64) - corner) / box.size * 2 - 1).astype(np.float32)


# iBUG 68 (upper, lower) pairs that close onto each other: inner lips, then both eyelids
CLOSING_PAIRS = ((61, 67), (62, 66), (63, 65), (37, 41), (38, 40), (43, 47), (44, 46))


def motion_landmarks(
    driving: np.ndarray, reference: np.ndarray | None, anchor: np.ndarray, mode: str
) -> np.ndarray:
    """The landmarks the model is driven with, (b, 68, 2): the driving frames' own (absolute), or
    the first source's moved by the driving landmarks' change from the reference frame (relative,
    as for keypoints), so the source keeps its face shape. NaN where a face is missing.

    Relative motion can push lips or eyelids past closed: a driver whose reference frame has
    the mouth a little open closes it, and the source's closed lips would cross. The spline
    would then fold the mouth inside out, so crossed pairs meet halfway instead (`close_pairs`)."""
    if mode != "relative":
        return driving
    reference = driving[:1] if reference is None else reference[None]
    return close_pairs((anchor[None] + (driving - reference)).astype(np.float32))


def close_pairs(landmarks: np.ndarray) -> np.ndarray:
    """(..., 68, 2) landmarks where a lower lip or eyelid point sits above its upper partner
    (smaller y) -> both at their mean height: closed, not crossed."""
    upper = [pair[0] for pair in CLOSING_PAIRS]
    lower = [pair[1] for pair in CLOSING_PAIRS]
    upper_y, lower_y = landmarks[..., upper, 1], landmarks[..., lower, 1]
    crossed = lower_y < upper_y  # NaN compares False: no face, left alone
    middle = (upper_y + lower_y) / 2
    closed = landmarks.copy()
    closed[..., upper, 1] = np.where(crossed, middle, upper_y)
    closed[..., lower, 1] = np.where(crossed, middle, lower_y)
    return closed


def known_landmarks(landmarks: np.ndarray) -> np.ndarray | None:
    """(68, 2) landmarks, or None when they hold NaN (no face)."""
    return None if np.isnan(landmarks).any() else landmarks
