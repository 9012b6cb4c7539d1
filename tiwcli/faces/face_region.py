"""Where a followed face is, for `follow.py`: the landmarks' bounding square, the detector's box
placed relative to it, the pixels around it, and a small appearance patch to compare frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiwcli.faces.backends import Face


@dataclass(frozen=True)
class BoxFromLandmarks:
    """Where the detector put its box relative to the landmarks' bounding box (extent units)."""

    offset_x: float
    offset_y: float
    scale: float

    @classmethod
    def measure(cls, face: Face) -> BoxFromLandmarks:
        center, extent = landmark_frame(face.landmarks)
        box_center = (face.box[:2] + face.box[2:]) / 2
        side = float(max(face.box[2] - face.box[0], face.box[3] - face.box[1]))
        offset = (box_center - center) / extent
        return cls(float(offset[0]), float(offset[1]), side / extent)

    def box(self, landmarks: np.ndarray) -> np.ndarray:
        center, extent = landmark_frame(landmarks)
        center_x, center_y = center[0] + self.offset_x * extent, center[1] + self.offset_y * extent
        half = self.scale * extent / 2
        return np.array([center_x - half, center_y - half, center_x + half, center_y + half], np.float32)


def appearance_patch(frame: np.ndarray, landmarks: np.ndarray, size: int = 24) -> np.ndarray:
    """(size, size) grey patch over the landmarks' bounding square, zero mean and unit norm, so
    that the sum of two patches' product is their normalised cross-correlation in [-1, 1]."""
    center, extent = landmark_frame(landmarks)
    steps = (np.arange(size) + 0.5 - size / 2) / size * extent  # (size,) sample offsets, nearest pixel
    columns = np.clip(np.rint(center[0] + steps).astype(int), 0, frame.shape[1] - 1)
    rows = np.clip(np.rint(center[1] + steps).astype(int), 0, frame.shape[0] - 1)
    patch = frame[rows[:, None], columns[None, :]].astype(np.float32).mean(axis=-1)  # (size, size)
    patch -= patch.mean()
    return patch / max(float(np.linalg.norm(patch)), 1e-6)


def face_region(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The frame's pixels in the landmarks' bounding square grown by half its side (a view)."""
    center, extent = landmark_frame(landmarks)
    low = np.floor(center - extent).astype(int).clip(0)
    high = np.ceil(center + extent).astype(int)
    return frame[low[1] : high[1], low[0] : high[0]]


def landmark_frame(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre (2,) and extent (the larger side) of the landmarks' bounding box."""
    low, high = landmarks.min(axis=0), landmarks.max(axis=0)
    return (low + high) / 2, max(float(max(high - low)), 1.0)
