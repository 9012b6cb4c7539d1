"""Source images for an animation: photos cut around their main face, or the frames of a source
video that differ the most (farthest-point sampling over their keypoints, motion.py); and the
driving frame most like the source (`reference_keypoints`, for `--find-best-frame`).

Both work through a `Framer` (framing.py: the face path) and, for a video, the
model's keypoint detector; `Animator.sources_from_images` and `sources_from_video` call them.

Shape letters: b batch, n sources, k keypoints, t frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from einops import rearrange

from tiwcli.errors import InputError
from tiwcli.inference.framing import Framer
from tiwcli.inference.motion import (
    KeypointArrays,
    best_reference_frame,
    farthest_point_sampling,
    landmarks_in_crop,
    normalized_positions,
)
from tiwcli.inference.options import (
    STAGE_REFERENCE,
    STAGE_SOURCES,
    STAGE_TRACKING_SOURCE,
    AnimateOptions,
    FrameSource,
    Sources,
)
from tiwcli.io.streaming import batched
from tiwcli.models import Keypoints


def sources_from_images(
    framer: Framer,
    options: AnimateOptions,
    uses_landmarks: bool,
    images: Sequence[np.ndarray],
    names: Sequence[str] = (),
) -> Sources:
    """Source photos (H, W, 3) uint8 -> model-size crops (the main face of each, when cropping).

    `names` (e.g. file names) only label the error of a photo with no face.
    """
    if not images:
        raise InputError("no source image given")
    if not options.crop:
        crops = np.stack([framer.fit(image) for image in images])
        return Sources(
            crops=crops, frame_indices=tuple(range(len(images))), landmarks=framer.fitted_landmarks(images)
        )
    from tiwcli.faces.crop import crop_box_from_landmarks

    labels = list(names) or [f"source image {index + 1}" for index in range(len(images))]
    faces = [framer.main_face(image, label) for image, label in zip(images, labels, strict=True)]
    boxes = [crop_box_from_landmarks(face.landmarks) for face in faces]
    crops = np.stack([framer.cut(image, box) for image, box in zip(images, boxes, strict=True)])
    landmarks = np.stack(
        [landmarks_in_crop(face.landmarks, box, 0) for face, box in zip(faces, boxes, strict=True)]
    )
    larger = max(images[0].shape[:2]) > framer.image_size
    paste = options.paste_back if options.paste_back is not None else len(images) == 1 and larger
    return Sources(
        crops=crops,
        frame_indices=tuple(range(len(images))),
        frame=images[0] if paste else None,
        box=boxes[0] if paste else None,
        landmarks=landmarks if uses_landmarks else None,
    )


def sources_from_video(
    framer: Framer,
    options: AnimateOptions,
    detect: Callable[[np.ndarray], KeypointArrays],
    report: Callable[[str, int], None],
    frames: FrameSource,
    name: str = "source video",
) -> Sources:
    """Choose `options.num_sources` frames of a source video that differ the most (2 or 3 passes).

    Only frames with a face are candidates (when cropping); fewer are returned when the
    video has fewer such frames. `Sources.frame_indices` says which frames were chosen. `detect`:
    crops (b, S, S, 3) -> their keypoints; `report`: the progress callback (stage, frames).
    """
    track = framer.track(frames, name, STAGE_TRACKING_SOURCE) if options.crop else None
    descriptors = []  # (t, k * 3): a few floats per frame
    for batch in batched(framer.crops(frames, track), options.batch_size):
        keypoints = detect(batch)
        positions = rearrange(normalized_positions(keypoints.positions), "b k xy -> b (k xy)")
        descriptors.append(np.concatenate([positions, keypoints.strengths], axis=1))
        report(STAGE_SOURCES, len(batch))
    candidates = np.arange(sum(len(d) for d in descriptors))
    if track is not None:
        candidates = candidates[track.found[: len(candidates)]]
    picked = farthest_point_sampling(np.concatenate(descriptors)[candidates], options.num_sources)
    indices = [int(candidates[i]) for i in picked]
    return framer.gather_sources(frames, track, indices)


def reference_keypoints(
    detect: Callable[[np.ndarray], KeypointArrays],
    report: Callable[[str, int], None],
    crops: Iterable[np.ndarray],
    source: Keypoints,
    batch_size: int,
) -> tuple[int, Keypoints]:
    """(index, keypoints) of the driving frame most like the source (a pass over the driving crops)."""
    positions, strengths = [], []
    for batch in batched(crops, batch_size):
        keypoints = detect(batch)
        positions.append(keypoints.positions)
        strengths.append(keypoints.strengths)
        report(STAGE_REFERENCE, len(batch))
    all_positions = np.concatenate(positions)  # (t, k, 2)
    index = best_reference_frame(source.positions.float().cpu().numpy(), all_positions)
    device = source.positions.device
    reference = Keypoints(
        positions=torch.from_numpy(all_positions[index]).to(device),
        strengths=torch.from_numpy(np.concatenate(strengths)[index]).to(device),
    )
    return index, reference
