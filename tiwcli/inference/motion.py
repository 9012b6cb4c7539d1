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
Their mouth can take one more step (`AnimateOptions.mouth_reference`): a driver whose reference
frame has the mouth open would, measured from it, barely open the source's mouth at all. With
"closed" (the default since benchmarks/mouth/RULE.md's fifth try; "frame" is FOMM's), the
reference's mouth is closed to the least open the driver has been so far or in the next frames
(`closed_mouth_references`), along the way mouths open in the training clips
(`MOUTH_OPENING_BASIS`), so openings are measured from the driver's closed mouth. `tiw live`
reads no frames ahead: so far only.

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
    `reference`: (68, 2), or (b, 68, 2) one per driving frame (`closed_mouth_references`).

    Relative motion can push lips or eyelids past closed: a driver whose reference frame has
    the mouth a little open closes it, and the source's closed lips would cross. The spline
    would then fold the mouth inside out, so crossed pairs meet halfway instead (`close_pairs`)."""
    if mode != "relative":
        return driving
    if reference is None:
        reference = driving[:1]
    elif reference.ndim == 2:
        reference = reference[None]
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


# How far each landmark moves down the face (perpendicular to the eye line) per unit of
# `mouth_openings`, in outer eye-corner distances: the least-squares slope over the training
# split's clips (benchmarks/mouth/opening_basis.py), made left-right symmetric. The lower lip and
# the chin drop, the upper lip rises a little, the brows, eyes and nose stay.
MOUTH_OPENING_BASIS: dict[int, float] = {
    0: 0.14, 1: 0.17, 2: 0.20, 3: 0.24, 4: 0.28, 5: 0.34, 6: 0.44, 7: 0.57, 8: 0.61,
    9: 0.57, 10: 0.44, 11: 0.34, 12: 0.28, 13: 0.24, 14: 0.20, 15: 0.17, 16: 0.14,
    48: -0.09, 49: -0.24, 50: -0.24, 51: -0.24, 52: -0.24, 53: -0.24, 54: -0.09,
    55: 0.51, 56: 0.80, 57: 0.84, 58: 0.80, 59: 0.51,
    60: -0.05, 61: -0.29, 62: -0.29, 63: -0.29, 64: -0.05, 65: 0.72, 66: 0.75, 67: 0.72,
}  # fmt: skip
_BASIS = np.zeros(68, np.float64)
_BASIS[list(MOUTH_OPENING_BASIS)] = list(MOUTH_OPENING_BASIS.values())
UPPER_LIP = (48, 49, 50, 51, 52, 53, 54, 60, 61, 62, 63, 64)  # iBUG: outer and inner upper lip, corners


def _jaw_basis() -> np.ndarray:
    """(68,) `MOUTH_OPENING_BASIS` with the upper lip still: its rows 0 and every other row scaled
    so that a unit along it still adds a unit of `mouth_openings` (about 1.40 times: the lower lip
    carries the whole inner gap the upper lip shared)."""
    gap = _BASIS[[67, 66, 65]] - _BASIS[[61, 62, 63]]  # the inner pairs' gap per unit, about 1.02
    jaw = _BASIS.copy()
    jaw[list(UPPER_LIP)] = 0.0
    return jaw * (gap.mean() / jaw[[67, 66, 65]].mean())


# How `scaled_mouth_opening` adds the extra opening (benchmarks/expressions/RULE.md, twenty-first
# rule): "lips" along MOUTH_OPENING_BASIS (the upper lip rises a little), "jaw" by the lower lip
# and chin alone (`_jaw_basis`)
OPENING_WAYS = ("lips", "jaw")
SCALED_OPENING = "jaw"  # since the twenty-first rule (2026-12-07 night); "lips" before
_OPENING_BASES = {"lips": _BASIS, "jaw": _jaw_basis()}


def mouth_openings(landmarks: np.ndarray) -> np.ndarray:
    """How open the mouth is, scale-free, (..., 68, 2) -> (...): the mean inner-lip gap (iBUG
    61-67, 62-66, 63-65) over the outer eye-corner distance (36-45). About 0 closed, 0.3-0.5 wide
    open; NaN where the landmarks are."""
    gap = np.linalg.norm(landmarks[..., [61, 62, 63], :] - landmarks[..., [67, 66, 65], :], axis=-1)
    eyes = np.linalg.norm(landmarks[..., 36, :] - landmarks[..., 45, :], axis=-1)
    return gap.mean(axis=-1) / np.maximum(eyes, 1e-6)


def close_mouth(landmarks: np.ndarray, amount: np.ndarray | float, way: str = "lips") -> np.ndarray:
    """(..., 68, 2) landmarks with the mouth closed by `amount` (...) of `mouth_openings`: each
    point moved up the face by `MOUTH_OPENING_BASIS` times it (`way` "jaw": the upper lip still,
    `_jaw_basis`), in the face's own size and roll."""
    eyes = landmarks[..., 45, :] - landmarks[..., 36, :]  # (..., 2)
    down = np.stack([-eyes[..., 1], eyes[..., 0]], axis=-1)  # (..., 2) eye line turned 90 degrees: down
    basis = _OPENING_BASES[way]
    shift = np.asarray(amount, np.float64)[..., None, None] * basis[:, None] * down[..., None, :]
    return (landmarks - shift).astype(landmarks.dtype)  # (..., 68, 2)


def scaled_mouth_opening(
    moved: np.ndarray, driving: np.ndarray, reference: np.ndarray | None, scale: float
) -> np.ndarray:
    """Relative motion's landmarks `moved` (b, 68, 2) with the driver's mouth opening from its
    `reference` ((68, 2), (b, 68, 2) or None: the first driving frame) taken `scale` times
    (`AnimateOptions.mouth_scale`): the mouth opened further by (scale - 1) times the driver's
    change of `mouth_openings`, in the moved face's own size and roll: by the lower lip and chin
    alone (`SCALED_OPENING` "jaw", the default) or along `MOUTH_OPENING_BASIS` ("lips"). 1 gives
    `moved` back; NaN (no face) stays NaN."""
    if scale == 1:
        return moved
    if reference is None:
        reference = driving[:1]
    opened = mouth_openings(driving) - mouth_openings(reference)  # (b,) the driver's opening
    return close_pairs(close_mouth(moved, -(scale - 1) * opened, SCALED_OPENING))


def closed_source_mouth(anchor: np.ndarray) -> np.ndarray:
    """The first source's landmarks (68, 2) with the mouth closed (`AnimateOptions.source_mouth`
    "closed"): relative motion then adds the driver's opening to a closed mouth, so a portrait that
    smiles with its lips apart opens as far as the driver and no farther, and closes when the driver
    does. NaN stays NaN."""
    return close_pairs(close_mouth(anchor, mouth_openings(anchor)))


MOUTH_LOOKAHEAD = 25  # frames (about a second) that `closed_mouth_references` may look ahead


def least_openings(
    reference: np.ndarray,
    driving: np.ndarray,
    least_ahead: np.ndarray | None = None,
    least_before: float | None = None,
) -> np.ndarray:
    """(b,) the least mouth opening the driver (b, 68, 2) has had up to each frame, or in the
    `least_ahead` (b,) openings of the frames just after it, starting from `least_before` (the
    frames of earlier batches; None: the reference's (68, 2) own opening). Frames without a face
    (NaN) leave it as it was."""
    start = float(mouth_openings(reference)) if least_before is None else least_before
    openings = np.concatenate([[start], mouth_openings(driving)])  # (b + 1,)
    if least_ahead is not None:
        openings[1:] = np.fmin(openings[1:], least_ahead)
    least = np.fmin.accumulate(openings)[1:]  # (b,) NaN-skipping running minimum
    return np.where(np.isnan(least), start, least)


def closed_mouth_references(
    reference: np.ndarray,
    driving: np.ndarray,
    least_ahead: np.ndarray | None = None,
    least_before: float | None = None,
) -> np.ndarray:
    """Per driving frame (b, 68, 2), the reference (68, 2) with its mouth closed to the driver's
    `least_openings` at that frame: (b, 68, 2). A stream of batches passes the same reference
    and the last frame's least opening on (`least_before`): it gives the same as one batch.

    Looking ahead matters: a driver that starts with the mouth open and closes it a second later
    would otherwise open the source's mouth only from then on (benchmarks/relative_mouth.py)."""
    least = least_openings(reference, driving, least_ahead, least_before)
    amount = mouth_openings(reference) - least
    return close_mouth(np.broadcast_to(reference, driving.shape), amount)


def known_landmarks(landmarks: np.ndarray) -> np.ndarray | None:
    """(68, 2) landmarks, or None when they hold NaN (no face)."""
    return None if np.isnan(landmarks).any() else landmarks
