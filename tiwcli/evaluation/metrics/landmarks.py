"""AKD and MKR: do the generated faces have the real frames' pose and expression?

Landmarks are the 68 iBUG points of the face analyzer in `tiwcli/faces/`
(FAN when installed with its weights, dlib otherwise; the report names it),
in pixels of the evaluated frame. When a frame holds several faces, the first
one the analyzer returns (largest / most central) is used.

- AKD: per frame, the mean Euclidean distance over the 68 points between the
  generated and the real landmarks; averaged over the frames where BOTH have a face.
- MKR: the fraction of frames where a face is found in the real frame but missed
  in the generated one, over the frames where the real frame has a face.
Per-frame functions return NaN where a frame does not count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FaceObservations:
    """What the analyzer saw in each of b frames: landmarks (68, 2) and identity embedding (128,), or None."""

    landmarks: list[np.ndarray | None]
    embeddings: list[np.ndarray | None]


def observe_faces(analyzer, frames: np.ndarray, embeddings: bool = False) -> FaceObservations:
    """Run the face analyzer on (b, h, w, 3) uint8 frames; embeddings only when asked (they cost more)."""
    landmarks: list[np.ndarray | None] = []
    identities: list[np.ndarray | None] = []
    for frame in frames:
        faces = analyzer.detect(frame)
        face = faces[0] if faces else None
        landmarks.append(None if face is None else np.asarray(face.landmarks, dtype=np.float64))
        if embeddings and face is not None:
            identities.append(np.asarray(analyzer.embedding(frame, face), dtype=np.float64))
        else:
            identities.append(None)
    return FaceObservations(landmarks, identities)


def akd_per_frame(pred: Sequence[np.ndarray | None], real: Sequence[np.ndarray | None]) -> np.ndarray:
    """Mean landmark distance in pixels per frame; NaN where either frame has no face: (b,)."""
    values = np.full(len(real), np.nan)
    for index, (pred_points, real_points) in enumerate(zip(pred, real, strict=True)):
        if pred_points is not None and real_points is not None:
            values[index] = np.linalg.norm(pred_points - real_points, axis=-1).mean()
    return values


def mkr_per_frame(pred: Sequence[np.ndarray | None], real: Sequence[np.ndarray | None]) -> np.ndarray:
    """1 where the real frame has a face and the generated one has none, 0 where both have one,
    NaN where the real frame has none: (b,)."""
    values = np.full(len(real), np.nan)
    for index, (pred_points, real_points) in enumerate(zip(pred, real, strict=True)):
        if real_points is not None:
            values[index] = float(pred_points is None)
    return values


def mouth_opening(landmarks: np.ndarray) -> float:
    """How open the mouth of one face's (68, 2) landmarks is (`tiwcli.inference.motion.mouth_openings`)."""
    from tiwcli.inference.motion import mouth_openings

    return float(mouth_openings(np.asarray(landmarks, np.float64)))
