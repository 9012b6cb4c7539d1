"""Video editing (`tiw animate --edit SOURCE.mp4 DRIVING.mp4`): a face inside an existing video takes
a driver's expression and keeps everything else.

Each frame of the source video is its own source image: the person keeps their head motion,
body and background, and only the expression changes. Per frame t (motion_controls.py):
- the source frame's landmarks S_t are split into its head pose and its expression, measured from
  the source's neutral frame (its least open mouth); the driver's frame is split the same way
  against the driver's neutral frame;
- the target landmarks are the source's neutral face with the driver's expression (rescaled to
  the source's face size), shown in the source frame's own pose (`edited_landmarks`);
- the driver's mouth opening from its neutral frame is taken `--mouth-scale` times, as in
  animation (`motion.scaled_mouth_opening`);
- the model warps the frame's crop from S_t to the target (the keypoints follow the landmarks),
  and the crop is pasted back into the full frame with the source's smoothed track, so the face
  does not jitter.
Frames of the source without a face pass through unchanged (counted); driver frames without a
face leave the source frame's own expression. A driver shorter than the source plays forward then
backward again (no jump), so the output always has the source's length.

Both videos are tracked first (two passes: small per-frame arrays, never frames), then the
source is streamed in batches: memory does not grow with the length.

Shape letters: b batch (frames), t frames, S model size, k keypoints.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from tiwcli.errors import InputError
from tiwcli.inference.motion import landmarks_in_crop, mouth_openings, scaled_mouth_opening
from tiwcli.inference.motion_controls import edited_landmarks, keypoints_following
from tiwcli.inference.options import STAGE_ANIMATING, STAGE_TRACKING, STAGE_TRACKING_SOURCE, FrameSource
from tiwcli.io.frames import frames_to_tensor, tensor_to_frames
from tiwcli.models import Keypoints
from tiwcli.runtime import autocast

if TYPE_CHECKING:
    from tiwcli.faces.track import FaceTrack
    from tiwcli.inference.animator import Animator


@dataclass(frozen=True)
class EditPlan:
    """What the tracking passes found: each video's landmarks in its crops, and the neutral frames."""

    source: FaceTrack
    source_landmarks: np.ndarray  # (t, 68, 2) in each source crop's [-1, 1], NaN: no face
    driving_landmarks: np.ndarray  # (u, 68, 2) in each driving crop's [-1, 1], NaN: no face
    source_neutral: int  # the source frame with the least open mouth
    driving_neutral: int

    def driving_index(self, frame: int) -> int:
        """The driver's frame for source frame `frame`: forward, then backward, and so on."""
        count = len(self.driving_landmarks)
        if count == 1:
            return 0
        phase = frame % (2 * count - 2)
        return phase if phase < count else 2 * count - 2 - phase


def plan_edit(
    animator: Animator, source: FrameSource, driving: FrameSource, names: tuple[str, str]
) -> EditPlan:
    """Track both videos (a pass over each) and choose their neutral frames."""
    if not animator.uses_landmarks:
        raise InputError("--edit needs weights with the landmark prior (the default weights)")
    source_track = animator.framer.track(source, names[0], STAGE_TRACKING_SOURCE)
    driving_track = animator.framer.track(driving, names[1], STAGE_TRACKING)
    source_landmarks = _in_crops(source_track)
    driving_landmarks = _in_crops(driving_track)
    if not source_track.found.any():
        raise InputError(f"{names[0]}: no face found in any frame of the video to edit")
    if not driving_track.found.any():
        raise InputError(f"{names[1]}: no face found in the driving video")
    return EditPlan(
        source=source_track,
        source_landmarks=source_landmarks,
        driving_landmarks=driving_landmarks,
        source_neutral=_least_open(source_landmarks),
        driving_neutral=_least_open(driving_landmarks),
    )


def edit_frames(
    animator: Animator, plan: EditPlan, source: FrameSource
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(frames (b, H, W, 3), edited (b,) bool): the source video's frames with the expression
    replaced, batch by batch; `edited` False where the frame passed through (no face)."""
    batch: list[tuple[int, np.ndarray]] = []
    for index, frame in enumerate(source()):
        batch.append((index, frame))
        if len(batch) == animator.options.batch_size:
            yield _edit_batch(animator, plan, batch)
            batch = []
    if batch:
        yield _edit_batch(animator, plan, batch)


def _edit_batch(
    animator: Animator, plan: EditPlan, batch: list[tuple[int, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    from tiwcli.faces.crop import paste_back

    frames = np.stack([frame for _, frame in batch])
    indices = np.array([index for index, _ in batch])
    edited = plan.source.found[indices] & np.isfinite(plan.source_landmarks[indices]).all(axis=(1, 2))
    if edited.any():
        chosen = indices[edited]
        boxes = [plan.source.boxes[index] for index in chosen]
        with animator.times.measure("crop"):
            crops = np.stack(
                [animator.cut(frame, box) for frame, box in zip(frames[edited], boxes, strict=True)]
            )
        own = plan.source_landmarks[chosen].astype(np.float64)  # (b, 68, 2)
        driver = plan.driving_landmarks[[plan.driving_index(int(index)) for index in chosen]].astype(
            np.float64
        )
        target = edited_landmarks(
            own,
            plan.source_landmarks[plan.source_neutral].astype(np.float64),
            np.where(np.isfinite(driver), driver, np.nan),
            plan.driving_landmarks[plan.driving_neutral].astype(np.float64),
            animator.options.controls,
        )
        target = scaled_mouth_opening(
            target,
            driver,
            plan.driving_landmarks[plan.driving_neutral].astype(np.float64),
            animator.options.opening_scale,
        )  # the driver's opening from its neutral mouth, `--mouth-scale` times (as in animation)
        faceless_driver = ~np.isfinite(target).all(axis=(1, 2))
        target[faceless_driver] = own[faceless_driver]  # the driver lost its face: keep the source's
        with animator.times.measure("model"):
            results = animate_from_themselves(animator, crops, own.astype(np.float32), target)
        with animator.times.measure("paste"):
            for slot, result, box in zip(np.flatnonzero(edited), results, boxes, strict=True):
                frames[slot] = paste_back(frames[slot], result, box)
    animator.report(STAGE_ANIMATING, len(batch))
    return frames, edited


def animate_from_themselves(
    animator: Animator, crops: np.ndarray, landmarks: np.ndarray, targets: np.ndarray
) -> np.ndarray:
    """Each crop (b, S, S, 3) is its own source: warped from its `landmarks` (b, 68, 2) to `targets`
    (b, 68, 2), its keypoints following the landmarks -> (b, S, S, 3)."""
    device = animator.device
    with torch.inference_mode(), autocast(device, animator.options.precision):
        images = frames_to_tensor(crops, device)[:, None]  # (b, 1, 3, S, S)
        own = torch.from_numpy(landmarks).to(device)[:, None]  # (b, 1, 68, 2)
        encoding = animator.model.encode_sources(images, own)
        keypoints = encoding.keypoints  # (b, 1, k, 2), (b, 1, k)
        own_keypoints = Keypoints(positions=keypoints.positions[:, 0], strengths=keypoints.strengths[:, 0])
        motion = keypoints_following(own_keypoints, landmarks, targets)  # (b, k, 2), (b, k)
        output = animator.model.animate(
            encoding, motion, torch.from_numpy(targets.astype(np.float32)).to(device)
        )
    return tensor_to_frames(output)


def _in_crops(track: FaceTrack) -> np.ndarray:
    """(t, 68, 2): the track's landmarks in each frame's crop [-1, 1]; NaN where no face was found."""
    found = np.full((track.num_frames, 68, 2), np.nan, np.float32)
    if track.landmarks is None:
        return found
    for index, box in enumerate(track.boxes):
        if track.found[index]:
            found[index] = landmarks_in_crop(track.landmarks[index], box, 0)
    return found


def _least_open(landmarks: np.ndarray) -> int:
    """The frame whose mouth is least open (frames without a face never chosen)."""
    openings = mouth_openings(landmarks.astype(np.float64))  # (t,) NaN without a face
    return int(np.nanargmin(openings))
