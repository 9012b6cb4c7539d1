"""Fast face tracking: the full detector every few frames, landmark tracking in between.

`faces.track_faces` runs the face detector on every frame (dlib HOG: ~15 ms at 640x360),
which costs as much as a small model. Here, as in real-time face trackers (Avatarify and
most webcam filters):
- the detector runs on a frame downscaled to `detect_side` px (about 2.5x fewer pixels at
  640x360), and on the full frame only when the small one shows no face; its landmarks are
  then measured on the full frame, in the box found;
- it runs every `detect_every` frames, and on any frame where tracking fails; in between,
  the 68-point shape predictor (a few times cheaper than the detector) is seeded with a
  box that follows the previous frame's landmarks (placed relative to them as the detector
  placed its box at the last detection, which is what the predictor was trained on);
- tracking fails when the new landmarks disagree with the previous ones more than a head
  moves in one frame (size changed by over `max_size_change`, centre moved by over
  `max_shift` of the face's extent), or when the image under them no longer looks like the
  face of the previous frame: the predictor, seeded where the face was, always returns
  landmarks near its box, even when the face has jumped away (a cut, a fast move). A small
  grey patch over the landmarks' box is compared between the two frames (normalised
  cross-correlation): on the sample clips, consecutive frames of a followed face score
  0.62-0.98, the same box after the face moved 40-150 px scores below 0.26; the threshold
  `min_similarity` is 0.45. The detector then runs on that frame.
- a frame whose pixels around the face equal the previous frame's keeps its landmarks: the
  predictor would move them a little on the same pixels, animating a face that stands still.

`FaceFollower` is online (one frame in, one face out: `tiw live`); `follow_faces` runs it
over a whole video and smooths the crop boxes exactly as `track_faces` does; `TrackInProgress`
does the same in a background thread and hands each box out as soon as it is final
(`tiw animate`, so the tracking pass overlaps the animation). `BoxSmoother` is the online
smoother for live use, where the future is not known (in track.py, beside the offline one).

Costs are measured by `benchmarks/faces/faces_bench.py` and by the "faces" stage of
`tiw animate --verbose` (the ~15 ms above: dlib's detector on a quiet 2-core machine).

Backends without `landmarks_in_box` (fan) fall back to detecting on every frame.

Shape letters: t frames.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tiwcli.errors import InputError
from tiwcli.faces.backends import Face, FaceAnalyzer
from tiwcli.faces.crop import CropBox, crop_box_from_landmarks
from tiwcli.faces.face_region import BoxFromLandmarks, appearance_patch, face_region, landmark_frame
from tiwcli.faces.track import FaceTrack, _fill_missing, smooth_crop_boxes

DETECT_EVERY = 8  # default: frames between two full detections
DETECT_SIDE = 400  # default: longer side of the frame the detector sees (>= 400: dlib does not upsample)
FULL_FRAME = 1 << 30  # a detect_side no frame reaches: detect on the full frame, as faces.track_faces


@dataclass
class FollowerStats:
    detections: int = 0  # frames where the detector ran
    tracked: int = 0  # frames where the landmarks followed the previous frame's
    failures: int = 0  # tracked frames that were rejected and detected again
    missing: int = 0  # frames with no face


class FaceFollower:
    """One frame in, the followed face (or None) out. Reset with `reset()` on a scene change."""

    def __init__(
        self,
        analyzer: FaceAnalyzer,
        detect_every: int = DETECT_EVERY,
        detect_side: int = DETECT_SIDE,
        max_size_change: float = 0.25,
        max_shift: float = 0.25,
        min_similarity: float = 0.45,
    ) -> None:
        if detect_every < 1:
            raise InputError("--detect-every must be at least 1")
        self.analyzer = analyzer
        self.detect_every = detect_every
        self.detect_side = detect_side
        self.max_size_change = max_size_change
        self.max_shift = max_shift
        self.min_similarity = min_similarity
        self.stats = FollowerStats()
        self.reset()

    def reset(self) -> None:
        self._previous: Face | None = None
        self._previous_patch: np.ndarray | None = None  # appearance of the previous face
        self._previous_region: np.ndarray | None = None  # a copy of the pixels around the last face
        self._box_from_landmarks: BoxFromLandmarks | None = None
        self._since_detection = 0

    def update(self, frame: np.ndarray) -> Face | None:
        face = None
        if self._previous is not None and self._since_detection + 1 < self.detect_every:
            region = face_region(frame, self._previous.landmarks)  # unchanged pixels: the same face
            if self._previous_region is not None and np.array_equal(region, self._previous_region):
                self._since_detection += 1
                self.stats.tracked += 1
                face = self._previous
            else:
                face = self._track(frame, self._previous)
        if face is None:
            face = self._detect(frame)
        self._previous_region = None if face is None else face_region(frame, face.landmarks).copy()
        self._previous = face
        self._previous_patch = None if face is None else appearance_patch(frame, face.landmarks)
        if face is None:
            self.stats.missing += 1
        return face

    def _track(self, frame: np.ndarray, previous: Face) -> Face | None:
        assert self._box_from_landmarks is not None
        box = self._box_from_landmarks.box(previous.landmarks)
        landmarks = self.analyzer.landmarks_in_box(frame, box)
        if landmarks is None:  # the backend cannot track: detect every frame
            return None
        (old_center, old_extent), (new_center, new_extent) = map(
            landmark_frame, (previous.landmarks, landmarks)
        )
        shift = float(np.hypot(*(new_center - old_center))) / old_extent
        resized = abs(math.log(new_extent / old_extent)) > math.log1p(self.max_size_change)
        similarity = float((appearance_patch(frame, landmarks) * self._previous_patch).sum())
        if resized or shift > self.max_shift or similarity < self.min_similarity:
            self.stats.failures += 1
            return None
        self._since_detection += 1
        self.stats.tracked += 1
        return Face(box=box, score=previous.score, landmarks=landmarks)

    def _detect(self, frame: np.ndarray) -> Face | None:
        self.stats.detections += 1
        self._since_detection = 0
        faces = self._detect_downscaled(frame) or self.analyzer.detect(frame)
        if not faces:
            return None
        face = _nearest(faces, self._previous)
        self._box_from_landmarks = BoxFromLandmarks.measure(face)
        return face

    def _detect_downscaled(self, frame: np.ndarray) -> list[Face]:
        height, width = frame.shape[:2]
        scale = self.detect_side / max(height, width)
        if scale >= 1:
            return []  # small already: the full-frame detection is the cheap one
        small = np.asarray(
            Image.fromarray(np.ascontiguousarray(frame)).resize(
                (round(width * scale), round(height * scale)), Image.BILINEAR, reducing_gap=2.0
            )
        )
        faces = []
        for small_face in self.analyzer.detect(small):
            box = (small_face.box / scale).astype(np.float32)
            landmarks = self.analyzer.landmarks_in_box(frame, box)  # measured at full resolution
            if landmarks is None:
                return []  # a backend that cannot: let it detect on the full frame
            faces.append(Face(box=box, score=small_face.score, landmarks=landmarks))
        return faces


def _nearest(faces: list[Face], previous: Face | None) -> Face:
    """The face nearest the one followed so far (if within half a crop), else the main face."""
    if previous is None or len(faces) == 1:
        return faces[0]
    target = crop_box_from_landmarks(previous.landmarks)
    centers = [crop_box_from_landmarks(face.landmarks) for face in faces]
    distances = [math.hypot(c.center_x - target.center_x, c.center_y - target.center_y) for c in centers]
    nearest = int(np.argmin(distances))
    return faces[nearest] if distances[nearest] < target.size / 2 else faces[0]


class _Observations:
    """Per-frame results of a follower, kept as small arrays (never frames); turned into a FaceTrack."""

    def __init__(self) -> None:
        self.raw: list[np.ndarray] = []  # (3,) cx, cy, size per frame, NaN when missing
        self.face_boxes: list[np.ndarray] = []
        self.landmarks: list[np.ndarray] = []
        self.width = self.height = 0

    def add(self, frame: np.ndarray, face: Face | None) -> None:
        self.height, self.width = frame.shape[:2]
        if face is None:
            self.raw.append(np.full(3, np.nan))
            self.face_boxes.append(np.full(4, np.nan, dtype=np.float32))
            self.landmarks.append(np.full((68, 2), np.nan, dtype=np.float32))
            return
        self.raw.append(crop_box_from_landmarks(face.landmarks).as_array())
        self.face_boxes.append(face.box.astype(np.float32))
        self.landmarks.append(face.landmarks.astype(np.float32))

    def track(self, center_sigma: float, size_sigma: float, name: str) -> FaceTrack:
        """The smoothed FaceTrack, exactly as `faces.track_faces` builds it; InputError if no face."""
        if not self.raw:
            raise InputError(f"{name}: video has no frames")
        raw_array = np.stack(self.raw)  # (t, 3)
        found = ~np.isnan(raw_array[:, 0])
        if not found.any():
            raise InputError(f"{name}: no face found in any frame")
        filled = _fill_missing(raw_array, found)
        smoothed = smooth_crop_boxes(filled, center_sigma, size_sigma)
        return FaceTrack(
            boxes=[CropBox.from_array(row) for row in smoothed],
            raw_boxes=filled,
            face_boxes=np.stack(self.face_boxes),
            found=found,
            frame_width=self.width,
            frame_height=self.height,
            landmarks=np.stack(self.landmarks),
        )


def follow_faces(
    frames: Iterable[np.ndarray],
    analyzer: FaceAnalyzer,
    *,
    detect_every: int = DETECT_EVERY,
    center_sigma: float = 2.0,
    size_sigma: float = 8.0,
    name: str = "video",
    follower: FaceFollower | None = None,
) -> FaceTrack:
    """`faces.track_faces` with a `FaceFollower`: the same FaceTrack, smoothed the same way.

    Frames are consumed one at a time and dropped. Raises InputError when no frame has a face.
    Pass `follower` to read its `stats` afterwards (then `detect_every` is its own).
    """
    follower = follower or FaceFollower(analyzer, detect_every)
    observations = _Observations()
    for frame in frames:
        observations.add(frame, follower.update(frame))
    return observations.track(center_sigma, size_sigma, name)


def smoothing_reach(center_sigma: float = 2.0, size_sigma: float = 8.0) -> int:
    """How many frames on each side `smooth_crop_boxes` reads for one frame: its median's half
    width plus its Gaussian's radius (scipy truncates at 4 sigma)."""
    return max(2 + int(4 * center_sigma + 0.5), 7 + int(4 * size_sigma + 0.5))


class TrackInProgress:
    """`follow_faces` in a background thread, each smoothed box handed out as soon as it is final.

    `tiw animate` used to track the whole driving video before animating it; this overlaps the
    tracking pass with the animation. Box t is final once the raw boxes up to t + `reach` are
    known (the smoothing reads no further) and a face has been seen (frames before the first
    face take its box): `box(t)` waits for that, and equals `follow_faces(...).boxes[t]`
    exactly, because it smooths the same numbers over a window that holds all it depends on.
    Only small per-frame arrays are kept, never frames. Use as a context manager (or `close`).
    """

    def __init__(
        self,
        frames: Iterable[np.ndarray],
        analyzer: FaceAnalyzer,
        *,
        detect_every: int = DETECT_EVERY,
        detect_side: int = DETECT_SIDE,
        center_sigma: float = 2.0,
        size_sigma: float = 8.0,
        name: str = "video",
    ) -> None:
        self._follower = FaceFollower(analyzer, detect_every, detect_side)
        self._observations = _Observations()
        self._filled: list[np.ndarray | None] = []  # raw with gaps filled; None before the first face
        self._last_good: np.ndarray | None = None
        self._sigmas = (center_sigma, size_sigma)
        self.reach = smoothing_reach(center_sigma, size_sigma)
        self._name = name
        self._done = False
        self._failure: BaseException | None = None
        self._condition = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(frames,), name="tiw-track", daemon=True)
        self._thread.start()

    def _run(self, frames: Iterable[np.ndarray]) -> None:
        iterator = iter(frames)
        try:
            for frame in iterator:
                if self._stop.is_set():
                    break
                face = self._follower.update(frame)
                with self._condition:
                    self._observations.add(frame, face)
                    self._fill(self._observations.raw[-1])
                    self._condition.notify_all()
        except BaseException as error:  # raised again in the thread that asks for a box
            self._failure = error
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
            with self._condition:
                self._done = True
                self._condition.notify_all()

    def _fill(self, raw: np.ndarray) -> None:
        if not np.isnan(raw[0]):
            if self._last_good is None:  # the first face: the frames before it take its box
                self._filled = [raw] * len(self._filled)
            self._last_good = raw
        self._filled.append(self._last_good)

    def box(self, index: int) -> CropBox:
        """The smoothed crop box of frame `index` (the last frame's, past the end); waits for it."""
        with self._condition:
            self._condition.wait_for(
                lambda: self._done or (self._last_good is not None and len(self._filled) > index + self.reach)
            )
            if self._failure is not None:
                raise self._failure
            if self._last_good is None:
                self._observations.track(*self._sigmas, self._name)  # raises the InputError
            total = len(self._filled)
            index = min(index, total - 1)
            low, high = max(0, index - self.reach), min(total, index + self.reach + 1)
            window = np.stack(self._filled[low:high])  # type: ignore[arg-type]
        return CropBox.from_array(smooth_crop_boxes(window, *self._sigmas)[index - low])

    def landmarks(self, index: int) -> np.ndarray | None:
        """Frame `index`'s 68 landmarks in frame pixels (the last frame's, past the end), None where
        no face was followed; waits like `box`."""
        self.box(index)
        with self._condition:
            found = self._observations.landmarks[min(index, len(self._observations.landmarks) - 1)]
        return None if np.isnan(found).any() else found

    def result(self) -> FaceTrack:
        """The whole FaceTrack, once the tracking pass has ended."""
        self._thread.join()
        if self._failure is not None:
            raise self._failure
        return self._observations.track(*self._sigmas, self._name)

    def close(self) -> None:
        """Stop the tracking pass early (the caller stopped) and join its thread."""
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> TrackInProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def box_at(track: FaceTrack | TrackInProgress, index: int) -> CropBox:
    """Frame `index`'s smoothed crop box (the last one past the end of the track)."""
    if hasattr(track, "box"):  # TrackInProgress: waits until that box is final
        return track.box(index)
    return track.boxes[min(index, len(track.boxes) - 1)]
