"""The animation pipeline: a model, source images and driving frames -> animated frames.

`Animator` is the reusable core of `tiw animate` (no CLI, no prints, no files
written). It streams: driving frames go through the model in batches of at most
`batch_size`, so memory does not grow with the video's length, and the sources
are encoded once per animation (`ImplicitWarping.encode_sources`), then reused
for every batch.

Driving frames come from a `FrameSource`, a callable that starts a fresh pass
over the frames each time it is called: face tracking and `find_best_frame` read
the driving video once before animating it, keeping only small per-frame arrays
(one crop box, one set of keypoints).

Motion transfer (`mode`, see motion.py): absolute drives the model with the keypoints of each
driving frame; relative (default, as in FOMM) moves the source's own keypoints by the driving
keypoints' change from a reference frame; `controls` (motion_controls.py) keep the pose or parts
of the expression. Several faces (group.py) and video editing (video_edit.py) compose Animators.

Faces (`crop`, default on): each source photo is cut around its main face (an `InputError` when
there is none); the driving video is tracked in a background pass that runs ahead of the animation
(`tiwcli.faces.follow`), each frame cut with its smoothed box once final (frames with no face reuse
the last good box, counted). The output is the animated crop, or with paste-back (default for one
source photo larger than the crop) the source photo with the animated face pasted back. Without
`crop`, inputs are resized to the model's square size as they are. A source video is reduced to
`num_sources` frames by farthest-point sampling over their keypoints, among frames with a face.

Shape letters: b batch (driving frames), n sources, k keypoints, S model size, t frames.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import torch
from einops import rearrange

from tiwcli.errors import InputError
from tiwcli.faces.follow import box_at
from tiwcli.inference import source_choice
from tiwcli.inference.framing import Framer
from tiwcli.inference.landmark_references import carry_reference_landmarks, landmark_references
from tiwcli.inference.motion import (
    KeypointArrays,
    closed_source_mouth,
    known_landmarks,
    landmarks_in_crop,
    motion_landmarks,
    relative_keypoints,
    scaled_mouth_opening,
)
from tiwcli.inference.motion_controls import controlled_landmarks, keypoints_following
from tiwcli.inference.mouth_interior import paint_mouth_interior
from tiwcli.inference.options import (
    STAGE_ANIMATING,
    AnimatedBatch,
    AnimateOptions,
    AnimationSummary,
    CropBatch,
    FrameSource,
    ProgressCallback,
    Sources,
)
from tiwcli.inference.source_choice import reference_keypoints
from tiwcli.io.frames import frames_to_tensor, tensor_to_frames
from tiwcli.io.streaming import prefetch
from tiwcli.models import ImplicitWarping, Keypoints
from tiwcli.runtime import autocast, resolve_device
from tiwcli.timing import StageTimes

if TYPE_CHECKING:
    from tiwcli.faces.backends import FaceAnalyzer
    from tiwcli.faces.crop import CropBox
    from tiwcli.faces.follow import TrackInProgress
    from tiwcli.models.implicit_warping import SourceEncoding


class Animator:
    """Animate source images with driving frames. Reusable: one model, many animations."""

    def __init__(
        self,
        model: ImplicitWarping,
        options: AnimateOptions | None = None,
        analyzer: FaceAnalyzer | None = None,
        progress: ProgressCallback | None = None,
        times: StageTimes | None = None,
    ) -> None:
        """`times` collects seconds per stage (decode is added by the frame source, if it does)."""
        self.options = options or AnimateOptions()
        self.times = times or StageTimes()
        self.device = resolve_device(self.options.device)
        self.model = model.to(self.device).eval()
        self.image_size = model.config.image_size
        if not self.options.controls.is_default and not model.config.uses_landmarks:
            raise InputError("motion controls need weights with the landmark prior (face landmarks)")
        self._analyzer = analyzer
        self._progress = progress
        self._summary: AnimationSummary | None = None
        self._times_before: dict[str, float] = {}  # stage seconds when the last animation started
        self.framer = Framer(
            self.image_size,
            self.options,
            self.times,
            lambda: self.analyzer,
            self.report,
            self.uses_landmarks,
        )

    @property
    def analyzer(self) -> FaceAnalyzer:
        if self._analyzer is None:
            from tiwcli.faces.backends import load_face_analyzer

            self._analyzer = load_face_analyzer(self.options.face_backend)
        return self._analyzer

    @property
    def summary(self) -> AnimationSummary:
        """The summary of the last animation that ran to its end."""
        if self._summary is None:
            raise RuntimeError("no animation has finished yet")
        return self._summary

    def settled_summary(self) -> AnimationSummary:
        """`summary` with the stage times read again now: a consumer's stages on other threads
        (the writer's encode) finish after the last batch was handed over."""
        seconds = self.times.seconds()
        stages = {stage: value - self._times_before.get(stage, 0.0) for stage, value in seconds.items()}
        return dataclasses.replace(self.summary, stage_seconds=stages)

    def report(self, stage: str, frames: int) -> None:
        """Tell the progress callback, if any, that `frames` more went through `stage`."""
        if self._progress is not None:
            self._progress(stage, frames)

    # sources

    def sources_from_images(self, images: Sequence[np.ndarray], names: Sequence[str] = ()) -> Sources:
        """Source photos -> model-size crops (see `source_choice.sources_from_images`)."""
        return source_choice.sources_from_images(
            self.framer, self.options, self.uses_landmarks, images, names
        )

    def sources_from_video(self, frames: FrameSource, name: str = "source video") -> Sources:
        """The `options.num_sources` frames of a source video that differ the most (source_choice.py)."""
        choose = source_choice.sources_from_video
        return choose(self.framer, self.options, self.detect_keypoints, self.report, frames, name)

    def source_keypoints(self, sources: Sources) -> KeypointArrays:
        """The keypoints the model finds on each source crop: (n, k, 2), (n, k). For previews."""
        return self.detect_keypoints(sources.crops)

    def detect_keypoints(self, crops: np.ndarray) -> KeypointArrays:
        """Crops (b, S, S, 3) -> the model's keypoints on them as arrays: (b, k, 2), (b, k)."""
        return KeypointArrays.from_torch(self._detect(crops))

    @property
    def uses_landmarks(self) -> bool:
        """Whether the model reads face landmarks (its landmark prior) beside the crops."""
        return self.model.config.uses_landmarks

    # framing (framing.py)

    def fit(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) -> (S, S, 3): the whole image resized to the model's size (no face crop)."""
        return self.framer.fit(image)

    def cut(self, image: np.ndarray, box: CropBox) -> np.ndarray:
        """(H, W, 3) -> (S, S, 3): the square `box` of the image at the model's size."""
        return self.framer.cut(image, box)

    def fitted_landmarks(self, images: Sequence[np.ndarray]) -> np.ndarray | None:
        """Landmarks of whole images in the [-1, 1] of `fit` (see `Framer.fitted_landmarks`)."""
        return self.framer.fitted_landmarks(images)

    # the model

    def _to_tensor(self, images: np.ndarray) -> torch.Tensor:
        """(..., S, S, 3) uint8 -> (..., 3, S, S) float in [0, 1] on the model's device."""
        return frames_to_tensor(images, self.device)

    def _detect(self, crops: np.ndarray) -> Keypoints:
        with torch.inference_mode(), autocast(self.device, self.options.precision):
            return self.model.keypoint_detector(self._to_tensor(crops))

    # animation

    def encode_sources(self, sources: Sources) -> SourceEncoding:
        """The sources through the model's encoders, once per animation."""
        with torch.inference_mode(), autocast(self.device, self.options.precision):
            source_images = rearrange(self._to_tensor(sources.crops), "n c h w -> 1 n c h w")
            landmarks = None
            if self.uses_landmarks and sources.landmarks is not None:
                landmarks = torch.from_numpy(sources.landmarks).to(self.device)[None]  # (1, n, 68, 2)
            if landmarks is None:  # the paper's model: sources alone
                return self.model.encode_sources(source_images)
            return self.model.encode_sources(source_images, landmarks)

    def animate_crops(
        self,
        encoding: SourceEncoding,
        crops: np.ndarray,
        reference: Keypoints | None,
        landmarks: np.ndarray | None = None,
        reference_landmarks: np.ndarray | None = None,
        mouth_ahead: np.ndarray | None = None,
        mouth_least: float | None = None,
    ) -> tuple[Keypoints, Keypoints, np.ndarray]:
        """Driving crops (b, S, S, 3) -> (detected keypoints, motion keypoints, results (b, S, S, 3)).

        Relative mode moves the first source's keypoints by the driving keypoints' change from
        `reference` (None: the first crop of this batch is the reference). A model with the
        landmark prior also gets the crops' landmarks (b, 68, 2), moved the same way from
        `reference_landmarks` (68, 2) (None: those of the first crop), its mouth closed as
        `landmark_references` says (`mouth_ahead`: `CropBatch.mouth_ahead`; `mouth_least`: the
        driver's least opening before this batch, as `carry_reference_landmarks` returns it).
        """
        driving_landmarks = None
        controlled: Keypoints | None = None  # keypoints that follow controlled landmarks
        if landmarks is not None and encoding.landmarks is not None:
            anchor = encoding.landmarks[0, 0].float().cpu().numpy()  # the first source's (68, 2)
            source_landmarks = anchor  # what the source has: the mouth interior compares with it
            if self.options.mode == "relative" and self.options.source_mouth == "closed":
                anchor = closed_source_mouth(anchor)
            references = self.landmark_references(reference_landmarks, landmarks, mouth_ahead, mouth_least)
            if self.options.controls.is_default:
                moved = motion_landmarks(landmarks, references, anchor, self.options.mode)
            else:
                moved = controlled_landmarks(
                    landmarks,
                    landmarks[:1] if references is None else references,
                    anchor,
                    self.options.controls,
                )
                first = encoding.keypoints  # the first source's: (1, n, k, 2), (1, n, k)
                controlled = keypoints_following(
                    Keypoints(first.positions[0, 0], first.strengths[0, 0]), source_landmarks, moved
                )
            if self.options.mode == "relative":  # the opening that reaches the source, scaled
                moved = scaled_mouth_opening(moved, landmarks, references, self.options.opening_scale)
            driving_landmarks = torch.from_numpy(moved).to(self.device)
        with self.times.measure("model"):
            with torch.inference_mode(), autocast(self.device, self.options.precision):
                detected = self.model.keypoint_detector(self._to_tensor(crops))  # (b, k, 2), (b, k)
                motion = detected
                if controlled is not None:
                    motion = controlled
                elif self.options.mode == "relative":
                    anchor = encoding.keypoints[0, 0]  # the first source's keypoints: (k, 2), (k,)
                    motion = relative_keypoints(
                        anchor, detected, detected[0] if reference is None else reference
                    )
                if driving_landmarks is None:
                    images = self.model.animate(encoding, motion)
                else:
                    images = self.model.animate(encoding, motion, driving_landmarks)
                results = tensor_to_frames(images)
        if driving_landmarks is not None and self.options.mouth_interior == "driver":
            with self.times.measure("mouth"):  # its own stage: "model" counts one call a batch
                results = paint_mouth_interior(results, crops, landmarks, moved, source_landmarks)
        return detected, motion, results

    def _closes_mouth(self) -> bool:
        return self.options.mode == "relative" and self.options.mouth_reference == "closed"

    def landmark_references(
        self,
        reference: np.ndarray | None,
        landmarks: np.ndarray,
        mouth_ahead: np.ndarray | None = None,
        mouth_least: float | None = None,
    ) -> np.ndarray | None:
        """What relative motion measures the driving landmarks from (landmark_references.py)."""
        return landmark_references(reference, landmarks, self._closes_mouth(), mouth_ahead, mouth_least)

    def carry_reference_landmarks(
        self,
        reference: np.ndarray | None,
        landmarks: np.ndarray,
        mouth_ahead: np.ndarray | None = None,
        mouth_least: float | None = None,
    ) -> tuple[np.ndarray | None, float | None]:
        """(reference, least mouth opening) for the frames after `landmarks` (landmark_references.py)."""
        return carry_reference_landmarks(reference, landmarks, self._closes_mouth(), mouth_ahead, mouth_least)

    def animate(
        self, sources: Sources, driving: FrameSource, name: str = "driving video"
    ) -> Iterator[AnimatedBatch]:
        """Yield animated batches for every driving frame; `self.summary` is set once it ends.

        Crops are cut in a background thread ahead of the model, and each batch is pasted back
        in another while the model works on the next one.
        """
        self._summary = None
        start, times_before = time.perf_counter(), self.times.seconds()
        self._times_before = times_before
        track = self.framer.start_tracking(driving, name) if self.options.crop else None
        with contextlib.closing(track) if track is not None else contextlib.nullcontext():
            yield from self._animate_tracked(sources, driving, track, start, times_before)

    def _animate_tracked(
        self,
        sources: Sources,
        driving: FrameSource,
        track: TrackInProgress | None,
        start: float,
        times_before: dict[str, float],
    ) -> Iterator[AnimatedBatch]:
        encoding = self.encode_sources(sources)
        reference_index: int | None = None
        reference: Keypoints | None = None
        if self.options.mode == "relative" and self.options.find_best_frame:
            anchor = encoding.keypoints[0, 0]
            crops = self.framer.crops(driving, track)
            reference_index, reference = reference_keypoints(
                self.detect_keypoints, self.report, crops, anchor, self.options.batch_size
            )
        reference_landmarks = None
        if reference_index is not None and self.uses_landmarks and track is not None:  # the best frame
            box = box_at(track, reference_index)
            reference_landmarks = known_landmarks(landmarks_in_crop(track.landmarks(reference_index), box, 0))
        if self.options.mode == "relative" and reference is None:
            reference_index = 0  # the first driving frame
        count = 0
        output_size = (0, 0)
        batches = prefetch(self.framer.crop_batches(driving, track), depth=2)
        with contextlib.closing(batches):  # stops the crop thread when the caller stops early
            for batch in self._model_then_paste(sources, encoding, batches, reference, reference_landmarks):
                count += len(batch.frames)
                output_size = (batch.frames.shape[2], batch.frames.shape[1])
                self.report(STAGE_ANIMATING, len(batch.frames))
                yield batch
        seconds = time.perf_counter() - start
        self._summary = AnimationSummary(
            frames=count,
            seconds=seconds,
            frames_per_second=count / seconds if seconds > 0 else 0.0,
            frames_without_face=track.result().num_missing if track is not None else 0,
            sources_used=sources.frame_indices,
            reference_frame=reference_index,
            output_size=output_size,
            stage_seconds={
                stage: value - times_before.get(stage, 0.0) for stage, value in self.times.seconds().items()
            },
        )

    def _model_then_paste(
        self,
        sources: Sources,
        encoding: SourceEncoding,
        batches: Iterable[CropBatch],
        reference: Keypoints | None,
        reference_landmarks: np.ndarray | None = None,
    ) -> Iterator[AnimatedBatch]:
        """The model on each batch of crops; the paste-back of batch i runs in a worker thread
        while the model works on batch i + 1."""
        mouth_least: float | None = None  # the driver's least mouth opening so far
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tiw-paste") as paster:
            pending: tuple[Future[np.ndarray], AnimatedBatch] | None = None
            for batch_in in batches:
                crops = batch_in.crops
                detected, motion, results = self.animate_crops(
                    encoding,
                    crops,
                    reference,
                    batch_in.landmarks,
                    reference_landmarks,
                    batch_in.mouth_ahead,
                    mouth_least,
                )
                if self.options.mode == "relative" and reference is None:
                    reference = detected[0]
                if batch_in.landmarks is not None:
                    reference_landmarks, mouth_least = self.carry_reference_landmarks(
                        reference_landmarks, batch_in.landmarks, batch_in.mouth_ahead, mouth_least
                    )
                batch = AnimatedBatch(
                    frames=results,  # replaced by the pasted frames
                    results=results,
                    driving=crops,
                    driving_keypoints=KeypointArrays.from_torch(detected),
                    motion_keypoints=KeypointArrays.from_torch(motion),
                )
                previous, pending = pending, (paster.submit(self.paste, sources, results), batch)
                if previous is not None:
                    yield dataclasses.replace(previous[1], frames=previous[0].result())
            if pending is not None:
                yield dataclasses.replace(pending[1], frames=pending[0].result())

    def frames(
        self, sources: Sources, driving: FrameSource, name: str = "driving video"
    ) -> Iterator[np.ndarray]:
        """Just the output frames, (H, W, 3) uint8, one at a time."""
        for batch in self.animate(sources, driving, name):
            yield from batch.frames

    def paste(self, sources: Sources, results: np.ndarray) -> np.ndarray:
        """Model crops (b, S, S, 3) -> output frames: pasted into the source photo, when asked."""
        if sources.frame is None or sources.box is None:
            return results
        from tiwcli.faces.crop import paste_back

        with self.times.measure("paste"):
            return np.stack([paste_back(sources.frame, result, sources.box) for result in results])
