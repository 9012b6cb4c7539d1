"""Frames -> model-size crops: the face path of `Animator`, for sources and driving frames alike.

With face cropping, a video is tracked (`track`: a whole pass; `start_tracking`: a background pass
that runs ahead of the animation) and each frame is cut with its smoothed box (`cut`); without,
frames are resized as they are (`fit`). A model with the landmark prior also gets each crop's 68
landmarks, in the crop's [-1, 1].

Shape letters: b batch, S model size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from tiwcli.faces.follow import box_at
from tiwcli.inference.motion import MOUTH_LOOKAHEAD, known_landmarks, landmarks_in_crop, mouth_openings
from tiwcli.inference.options import STAGE_TRACKING, AnimateOptions, CropBatch, FrameSource, Sources
from tiwcli.io.images import resize_image
from tiwcli.io.streaming import batched
from tiwcli.timing import StageTimes

if TYPE_CHECKING:
    from tiwcli.faces.backends import Face, FaceAnalyzer
    from tiwcli.faces.crop import CropBox
    from tiwcli.faces.follow import TrackInProgress
    from tiwcli.faces.track import FaceTrack


class Framer:
    """Model-size crops of photos and video frames, with the face tracking they need."""

    def __init__(
        self,
        image_size: int,
        options: AnimateOptions,
        times: StageTimes,
        analyzer: Callable[[], FaceAnalyzer],
        report: Callable[[str, int], None],
        uses_landmarks: bool,
    ) -> None:
        """`analyzer` loads the face analyzer when first needed; `report(stage, frames)` counts
        progress; `uses_landmarks`: the model reads landmarks beside the crops."""
        self.image_size = image_size
        self.options = options
        self.times = times
        self.analyzer = analyzer
        self.report = report
        self.uses_landmarks = uses_landmarks

    def main_face(self, image: np.ndarray, name: str) -> Face:
        from tiwcli.faces.backends import main_face_or_error

        return main_face_or_error(image, self.analyzer(), name)

    def fitted_landmarks(self, images: Sequence[np.ndarray]) -> np.ndarray | None:
        """Without face cropping: landmarks found on whole images (H, W, 3), in the [-1, 1] of the
        image resized to the model's square (`fit`) -> (b, 68, 2), NaN = no face; None when the
        model does not use them (then nothing is detected). Found at full size: small faces too."""
        if not self.uses_landmarks:
            return None
        found = np.full((len(images), 68, 2), np.nan, np.float32)
        with self.times.measure("faces"):
            for index, image in enumerate(images):
                faces = self.analyzer().detect(image)
                if faces:
                    size = np.array([image.shape[1], image.shape[0]], np.float32)
                    found[index] = faces[0].landmarks / size * 2 - 1
        return found

    def fit(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) -> (S, S, 3): the whole image resized to the model's size (no face crop)."""
        return resize_image(image, (self.image_size, self.image_size))

    def cut(self, image: np.ndarray, box: CropBox) -> np.ndarray:
        """(H, W, 3) -> (S, S, 3): the square `box` of the image at the model's size."""
        from tiwcli.faces.crop import crop_face

        return crop_face(image, box, self.image_size)

    def track(self, frames: FrameSource, name: str, stage: str = STAGE_TRACKING) -> FaceTrack:
        """The smoothed face track of a whole video (a pass over it; time counted as `faces`)."""
        from tiwcli.faces.follow import follow_faces
        from tiwcli.faces.track import track_faces

        def counted() -> Iterator[np.ndarray]:
            for frame in self.times.consumed(frames(), "faces"):
                yield frame
                self.report(stage, 1)

        if self.options.detect_every == 1:
            return track_faces(counted(), self.analyzer(), name=name)
        return follow_faces(counted(), self.analyzer(), detect_every=self.options.detect_every, name=name)

    def start_tracking(self, frames: FrameSource, name: str) -> TrackInProgress:
        """The driving video's face track, computed in a background pass that runs ahead of the
        animation (boxes are final a few dozen frames after their frame; see TrackInProgress).
        `detect_every` 1 detects on every full frame, as `faces.track_faces` does."""
        from tiwcli.faces.follow import DETECT_SIDE, FULL_FRAME, TrackInProgress

        def counted() -> Iterator[np.ndarray]:
            for frame in self.times.consumed(frames(), "faces"):
                yield frame
                self.report(STAGE_TRACKING, 1)

        every = self.options.detect_every
        side = FULL_FRAME if every == 1 else DETECT_SIDE
        return TrackInProgress(counted(), self.analyzer(), detect_every=every, detect_side=side, name=name)

    def crop_batches(self, frames: FrameSource, track: TrackInProgress | None) -> Iterator[CropBatch]:
        """Batches of model-size crops, with their landmarks when the model reads them (the
        tracker's, moved into each crop; found on the crop itself without face cropping)."""
        if not self.uses_landmarks:
            for crops in batched(self.crops(frames, track), self.options.batch_size):
                yield CropBatch(crops, None)
            return
        crops, landmarks, ahead = [], [], []
        openings: dict[int, float] = {}  # the track's mouth openings, frame index -> value
        for index, frame in enumerate(frames()):
            box = None if track is None else box_at(track, index)
            with self.times.measure("crop"):
                crops.append(self.fit(frame) if box is None else self.cut(frame, box))
            if track is not None:
                landmarks.append(landmarks_in_crop(track.landmarks(index), box, 0))
                ahead.append(_least_opening_ahead(track, index, openings))
            else:
                landmarks.append(self.fitted_landmarks([frame])[0])  # type: ignore[index]
            if len(crops) == self.options.batch_size:
                yield CropBatch(np.stack(crops), np.stack(landmarks), np.array(ahead) if ahead else None)
                crops, landmarks, ahead = [], [], []
        if crops:
            yield CropBatch(np.stack(crops), np.stack(landmarks), np.array(ahead) if ahead else None)

    def crops(self, frames: FrameSource, track: FaceTrack | TrackInProgress | None) -> Iterator[np.ndarray]:
        """Model-size crops of every frame: (S, S, 3) uint8, one at a time."""
        for index, frame in enumerate(frames()):
            box = None if track is None else box_at(track, index)
            with self.times.measure("crop"):
                crop = self.fit(frame) if box is None else self.cut(frame, box)
            yield crop

    def gather_sources(self, frames: FrameSource, track: FaceTrack | None, indices: list[int]) -> Sources:
        """Frames `indices` of a video (a pass over it) as sources: crops, landmarks, paste-back target."""
        wanted = set(indices)
        crops: dict[int, np.ndarray] = {}
        uncropped: dict[int, np.ndarray] = {}  # whole frames, for their landmarks without a track
        first_frame = None
        for index, frame in enumerate(frames()):
            if index in wanted:
                box = track.boxes[index] if track is not None else None
                crops[index] = self.cut(frame, box) if box is not None else self.fit(frame)
                if box is None and self.uses_landmarks:
                    uncropped[index] = frame
                if index == indices[0]:
                    first_frame = frame
            if len(crops) == len(wanted):
                break
        paste = bool(self.options.paste_back) and track is not None
        chosen = np.stack([crops[i] for i in indices])
        landmarks = None
        if self.uses_landmarks and track is not None and track.landmarks is not None:
            landmarks = np.stack(
                [landmarks_in_crop(known_landmarks(track.landmarks[i]), track.boxes[i], 0) for i in indices]
            )
        elif self.uses_landmarks:
            landmarks = self.fitted_landmarks([uncropped[i] for i in indices])
        return Sources(
            crops=chosen,
            frame_indices=tuple(indices),
            frame=first_frame if paste else None,
            box=track.boxes[indices[0]] if paste and track is not None else None,
            landmarks=landmarks,
        )


def _least_opening_ahead(track: TrackInProgress, index: int, openings: dict[int, float]) -> float:
    """The least mouth opening of frames index + 1 ... index + MOUTH_LOOKAHEAD of the track (the
    last frame's past its end; NaN when none has a face). `openings` caches them between calls
    and keeps only the window's."""
    for old in [key for key in openings if key <= index]:
        del openings[old]
    window = range(index + 1, index + 1 + MOUTH_LOOKAHEAD)
    for ahead in window:
        if ahead not in openings:
            found = track.landmarks(ahead)
            opening = np.nan if found is None else mouth_openings(np.asarray(found, np.float64))
            openings[ahead] = float(opening)
    return float(np.fmin.reduce(np.array([openings[key] for key in window])))
