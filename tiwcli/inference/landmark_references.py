"""What relative motion measures a driver's face landmarks from, with the landmark prior.

The reference is the first driving face's landmarks (or the best frame's); with
`mouth_reference` "closed" each frame gets its own reference, the same face with its mouth
closed to the driver's least opening so far (motion.py does the geometry). `Animator` and
`tiw live` carry the reference and the least opening from one batch to the next.

Shape letters: b batch (driving frames).
"""

from __future__ import annotations

import numpy as np

from tiwcli.inference.motion import closed_mouth_references, least_openings


def first_face(landmarks: np.ndarray) -> np.ndarray | None:
    """The first of (b, 68, 2) landmarks that has a face (no NaN), or None."""
    with_face = np.flatnonzero(np.isfinite(landmarks).all(axis=(1, 2)))
    return landmarks[with_face[0]] if len(with_face) else None


def landmark_references(
    reference: np.ndarray | None,
    landmarks: np.ndarray,
    closes_mouth: bool,
    mouth_ahead: np.ndarray | None = None,
    mouth_least: float | None = None,
) -> np.ndarray | None:
    """What relative motion measures the driving landmarks (b, 68, 2) from: `reference` (68, 2)
    (None: the first frame's), or when `closes_mouth` one per frame (b, 68, 2), its mouth closed
    to the driver's least opening so far (`mouth_least` before this batch) or in `mouth_ahead` (b,)."""
    if reference is None:  # the first frame with a face (not a faceless first frame's NaN)
        reference = first_face(landmarks)
    if reference is None or not closes_mouth:
        return reference
    return closed_mouth_references(reference, landmarks, mouth_ahead, mouth_least)


def carry_reference_landmarks(
    reference: np.ndarray | None,
    landmarks: np.ndarray,
    closes_mouth: bool,
    mouth_ahead: np.ndarray | None = None,
    mouth_least: float | None = None,
) -> tuple[np.ndarray | None, float | None]:
    """(reference (68, 2), the driver's least mouth opening) for the driving frames after
    `landmarks` (b, 68, 2): the reference is the first driving face's when there was none."""
    if reference is None:
        reference = first_face(landmarks)
    if reference is None or not closes_mouth:
        return reference, mouth_least
    return reference, float(least_openings(reference, landmarks, mouth_ahead, mouth_least)[-1])
