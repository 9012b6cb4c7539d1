"""Several faces in one photo (`--faces all|largest|INDEX[,INDEX...]`, `--driving-per-face`).

Every face of the photo is found (the thorough detector pass: group photos have small faces) and
numbered in reading order, from the left. Each chosen face is cut and animated on its own, as
`Animator` animates one face: by one driving video, or each by its own (`driving_per_face`).
The animated crops are pasted back into the full photo together (`faces.crop.paste_faces`): where
two faces' boxes overlap they cross-fade, so neither box's still copy of its neighbour covers the
neighbour's animated face, and pixels outside every box stay exactly the photo's.

The face animations run side by side, one batch of frames at a time, so memory does not grow
with the video. They share the model and the face analyzer; the analyzer is serialised by a lock
(`SharedAnalyzer`), since each animation tracks its driving video in a thread of its own.
A driving video shorter than the first holds its last frame; the first sets the output's length.

Shape letters: b batch (frames), S model size.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from tiwcli.errors import InputError
from tiwcli.inference.motion import landmarks_in_crop
from tiwcli.inference.options import FrameSource, Sources

if TYPE_CHECKING:
    from tiwcli.faces.backends import Face, FaceAnalyzer
    from tiwcli.inference.animator import Animator


def faces_in_reading_order(image: np.ndarray, analyzer: FaceAnalyzer) -> list[Face]:
    """Every face of a photo, left to right (then top to bottom)."""
    faces = analyzer.detect(image, thorough=True)
    return sorted(
        faces, key=lambda face: (float(face.box[0] + face.box[2]), float(face.box[1] + face.box[3]))
    )


def select_faces(faces: list[Face], selection: str | tuple[int, ...], name: str) -> list[Face]:
    """The faces chosen, in reading order; a one-line error when a number is not a face of the photo."""
    if not faces:
        raise InputError(f"{name}: no face found")
    if selection == "all":
        return faces
    if selection == "largest":
        return [max(faces, key=lambda face: face.area)]
    assert isinstance(selection, tuple)
    wrong = [number for number in selection if number > len(faces)]
    if wrong:
        plural = "s" * (len(faces) > 1)
        raise InputError(
            f"--faces {','.join(map(str, wrong))}: {name} has {len(faces)} face{plural} "
            f"(numbered 1 to {len(faces)} from the left)"
        )
    return [faces[number - 1] for number in selection]


def group_sources(animator: Animator, image: np.ndarray, faces: Sequence[Face]) -> list[Sources]:
    """One `Sources` per face: its crop and landmarks, no paste-back (the group is pasted at once)."""
    from tiwcli.faces.crop import crop_box_from_landmarks

    group = []
    for face in faces:
        box = crop_box_from_landmarks(face.landmarks)
        crop = animator.cut(image, box)[None].copy()  # writable: torch reads it without a warning
        landmarks = landmarks_in_crop(face.landmarks, box, 0)[None] if animator.uses_landmarks else None
        group.append(Sources(crops=crop, frame_indices=(0,), box=box, landmarks=landmarks))
    return group


class SharedAnalyzer:
    """A face analyzer used by several tracking threads at once: one call at a time."""

    def __init__(self, analyzer: FaceAnalyzer) -> None:
        self._analyzer = analyzer
        self._lock = threading.Lock()
        self.name, self.note = analyzer.name, analyzer.note

    def detect(self, image: np.ndarray, *, thorough: bool = False) -> list[Face]:
        with self._lock:
            return self._analyzer.detect(image, thorough=thorough)

    def landmarks_in_box(self, image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        with self._lock:
            return self._analyzer.landmarks_in_box(image, box)

    def embedding(self, image: np.ndarray, face: Face) -> np.ndarray:
        with self._lock:
            return self._analyzer.embedding(image, face)


def animate_group(
    animators: Sequence[Animator],
    photo: np.ndarray,
    group: Sequence[Sources],
    drivings: Sequence[FrameSource],
    names: Sequence[str],
) -> Iterator[np.ndarray]:
    """Output frames (H, W, 3) uint8: `photo` with every face of `group` animated by its driving
    video (`drivings[i]` drives `group[i]`; pass one FrameSource per face, the same one for all
    when one video drives them all), pasted back together. One `Animator` per face."""
    from tiwcli.faces.crop import paste_faces

    boxes = [sources.box for sources in group]
    streams = [
        _crops_of(animator.animate(sources, driving, name))
        for animator, sources, driving, name in zip(animators, group, drivings, names, strict=True)
    ]
    held: list[np.ndarray | None] = [None] * len(streams)
    try:
        for first in streams[0]:
            held[0] = first
            for index in range(1, len(streams)):
                held[index] = next(streams[index], held[index])  # a shorter driver holds its last frame
            with animators[0].times.measure("paste"):
                yield paste_faces(photo, held, boxes)  # type: ignore[arg-type]
    finally:
        for stream in streams:
            stream.close()


def _crops_of(batches: Iterator) -> Iterator[np.ndarray]:  # type: ignore[type-arg]
    """The model's output crops (S, S, 3), one at a time, from a stream of `AnimatedBatch`es."""
    try:
        for batch in batches:
            yield from batch.results
    finally:
        batches.close()  # type: ignore[attr-defined]
