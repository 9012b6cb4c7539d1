"""Face tracks through whole videos: the detector on every frame (`track_faces`), crop boxes
smoothed over time, and the jitter measures of a track. The faster follower (detector every
k frames, landmarks tracked in between) is in `follow.py`.

Shape letters: t frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, median_filter

from tiwcli.errors import InputError
from tiwcli.faces.backends import Face, FaceAnalyzer
from tiwcli.faces.crop import CropBox, crop_box_from_landmarks


@dataclass(frozen=True)
class FaceTrack:
    """Per-frame crop boxes of one face through a video: O(t) small arrays, never frames."""

    boxes: list[CropBox]  # t smoothed crop boxes: crop with these
    raw_boxes: np.ndarray  # (t, 3) cx, cy, size per frame before smoothing (gaps filled)
    face_boxes: np.ndarray  # (t, 4) detector boxes x0, y0, x1, y1; NaN where no face was found
    found: np.ndarray  # (t,) bool: a face was detected in this frame
    frame_width: int
    frame_height: int
    landmarks: np.ndarray | None = None  # (t, 68, 2) frame pixels, NaN where no face was found

    @property
    def num_frames(self) -> int:
        return len(self.boxes)

    @property
    def num_missing(self) -> int:
        return int((~self.found).sum())

    def smoothed_array(self) -> np.ndarray:
        return np.stack([box.as_array() for box in self.boxes])  # (t, 3)


def _pick_face(faces: list[Face], previous: CropBox | None) -> Face:
    """The face nearest the one followed so far (if within half a crop), else the main face."""
    if previous is None or len(faces) == 1:
        return faces[0]
    centers = [crop_box_from_landmarks(face.landmarks) for face in faces]
    distances = [math.hypot(c.center_x - previous.center_x, c.center_y - previous.center_y) for c in centers]
    nearest = int(np.argmin(distances))
    return faces[nearest] if distances[nearest] < previous.size / 2 else faces[0]


def smooth_crop_boxes(raw: np.ndarray, center_sigma: float = 2.0, size_sigma: float = 8.0) -> np.ndarray:
    """(t, 3) cx, cy, size -> smoothed (t, 3), zero-phase (the whole track is known).

    A 5-frame median drops single-frame detector outliers, then a Gaussian low-pass
    (sigma in frames) removes jitter; the size gets a wider median and a much wider
    Gaussian, so the crop scale barely breathes while the head moves.
    """
    if len(raw) < 3:
        return raw.copy()
    centers = median_filter(raw[:, :2], size=(5, 1), mode="nearest")
    centers = gaussian_filter1d(centers, center_sigma, axis=0, mode="nearest")
    sizes = median_filter(raw[:, 2], size=15, mode="nearest")
    sizes = gaussian_filter1d(sizes, size_sigma, mode="nearest")
    return np.concatenate([centers, sizes[:, None]], axis=1)


def track_faces(
    frames: Iterable[np.ndarray],
    analyzer: FaceAnalyzer,
    *,
    center_sigma: float = 2.0,
    size_sigma: float = 8.0,
    name: str = "video",
) -> FaceTrack:
    """Detect the face in every frame and return smoothed square crop boxes for the whole video.

    Frames are consumed one at a time and dropped. Frames without a face reuse the last good
    crop box (before the first face: the first good one). Raises InputError when no frame has
    a face. `name` (the file) goes into that message.
    """
    raw: list[np.ndarray] = []  # (3,) per frame, NaN when missing
    face_boxes: list[np.ndarray] = []
    landmarks: list[np.ndarray] = []
    previous: CropBox | None = None
    width = height = 0
    for frame in frames:
        height, width = frame.shape[:2]
        faces = analyzer.detect(frame)
        if faces:
            face = _pick_face(faces, previous)
            previous = crop_box_from_landmarks(face.landmarks)
            raw.append(previous.as_array())
            face_boxes.append(face.box.astype(np.float32))
            landmarks.append(face.landmarks.astype(np.float32))
        else:
            raw.append(np.full(3, np.nan))
            face_boxes.append(np.full(4, np.nan, dtype=np.float32))
            landmarks.append(np.full((68, 2), np.nan, dtype=np.float32))
    if not raw:
        raise InputError(f"{name}: video has no frames")
    raw_array = np.stack(raw)  # (t, 3)
    found = ~np.isnan(raw_array[:, 0])
    if not found.any():
        raise InputError(f"{name}: no face found in any frame")
    filled = _fill_missing(raw_array, found)
    smoothed = smooth_crop_boxes(filled, center_sigma, size_sigma)
    return FaceTrack(
        boxes=[CropBox.from_array(row) for row in smoothed],
        raw_boxes=filled,
        face_boxes=np.stack(face_boxes),
        found=found,
        frame_width=width,
        frame_height=height,
        landmarks=np.stack(landmarks),
    )


def _fill_missing(raw: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Rows where `found` is False take the last good row (the first good one before any)."""
    indices = np.where(found, np.arange(len(found)), -1)
    last_good = np.maximum.accumulate(indices)  # (t,)
    last_good[last_good < 0] = int(np.argmax(found))
    return raw[last_good]


def crop_jitter(boxes: FaceTrack | np.ndarray | Sequence[CropBox]) -> float:
    """Mean frame-to-frame move of the crop centre, as a fraction of the crop size.

    Accepts a FaceTrack (its smoothed boxes), a (t, 3) cx, cy, size array (e.g. `raw_boxes`)
    or a list of CropBox. 0.01 means the crop moves 1% of its side per frame on average.
    """
    values = _box_array(boxes)
    if len(values) < 2:
        return 0.0
    moves = np.hypot(*np.diff(values[:, :2], axis=0).T)  # (t-1,)
    return float(np.mean(moves / values[1:, 2]))


def crop_size_jitter(boxes: FaceTrack | np.ndarray | Sequence[CropBox]) -> float:
    """Mean frame-to-frame relative change of the crop size."""
    values = _box_array(boxes)
    if len(values) < 2:
        return 0.0
    return float(np.mean(np.abs(np.diff(values[:, 2])) / values[1:, 2]))


def crop_roughness(boxes: FaceTrack | np.ndarray | Sequence[CropBox]) -> float:
    """Mean |second difference| of the crop centre / crop size: jitter without the real motion.

    `crop_jitter` also counts the head's genuine, smooth motion; this one is ~0 for a crop
    moving at constant speed and large for a crop shaking from frame to frame.
    """
    values = _box_array(boxes)
    if len(values) < 3:
        return 0.0
    accelerations = np.hypot(*np.diff(values[:, :2], n=2, axis=0).T)  # (t-2,)
    return float(np.mean(accelerations / values[2:, 2]))


def _box_array(boxes: FaceTrack | np.ndarray | Sequence[CropBox]) -> np.ndarray:
    if isinstance(boxes, FaceTrack):
        return boxes.smoothed_array()
    if isinstance(boxes, np.ndarray):
        return boxes
    return np.stack([box.as_array() for box in boxes])


class BoxSmoother:
    """Online crop-box smoothing for live use (no future frames): exponential moving averages,
    the size much slower than the centre, as `smooth_crop_boxes` does offline.

    `center_alpha` / `size_alpha`: weight of the new box (1: no smoothing). A jump of more than
    `reset_shift` crop sizes (a new face, a scene cut) restarts from the new box.
    """

    def __init__(self, center_alpha: float = 0.5, size_alpha: float = 0.1, reset_shift: float = 0.5) -> None:
        self.center_alpha = center_alpha
        self.size_alpha = size_alpha
        self.reset_shift = reset_shift
        self._state: np.ndarray | None = None  # (3,) cx, cy, size

    def update(self, box: CropBox) -> CropBox:
        new = box.as_array()
        state = self._state
        if state is None or math.hypot(*(new[:2] - state[:2])) > self.reset_shift * state[2]:
            self._state = new
        else:
            alphas = np.array([self.center_alpha, self.center_alpha, self.size_alpha])
            self._state = state + alphas * (new - state)
        return CropBox.from_array(self._state)

    @property
    def current(self) -> CropBox | None:
        return None if self._state is None else CropBox.from_array(self._state)
