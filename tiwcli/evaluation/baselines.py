"""Reference methods that `tiw eval` scores beside the model, with the same shape:
sources (n, H, W, 3) + driving frames (b, H, W, 3) -> outputs (b, H, W, 3), all uint8.

- `CopySource`: outputs the source frame nearest in time to each driving frame (the
  floor any animator must beat on pose, and a hard one on identity).
- `LandmarkWarp`: classical piecewise-affine warp. The 68 landmarks of the chosen source
  (nearest in time) and of the driving frame, plus 8 fixed border points (corners and edge
  midpoints), are triangulated (Delaunay over the driving points); each output pixel takes
  the source pixel at the same barycentric position in the matching source triangle
  (inverse mapping, bilinear sampling). Without landmarks in either frame it copies the source.

A method is `prepare(sources, source_times, source_landmarks)` once per clip, then `render(driving)`
per batch. Landmarks are (68, 2) pixel (x, y) per frame or None; where the caller has none to give
(None for the whole list) a method that needs them detects them itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import ndimage
from scipy.spatial import Delaunay

from tiwcli.errors import InputError

BASELINES = ("copy-source", "landmark-warp")


def parse_baseline_names(text: str) -> tuple[str, ...]:
    """'copy-source,landmark-warp' -> the names, unique, in order; '' or 'none' -> (); else an error."""
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if names in ((), ("none",)):
        return ()
    unknown = [name for name in names if name not in BASELINES]
    if unknown:
        raise InputError(
            f"unknown baseline(s) {', '.join(unknown)}: choose from {', '.join(BASELINES)} or none"
        )
    return names


@dataclass(frozen=True)
class DrivingFrames:
    """A batch of driving frames; `landmarks` may carry already-detected (68, 2) points (or None)."""

    frames: np.ndarray  # (b, H, W, 3) uint8
    times: np.ndarray  # (b,) frame indices in the driving clip; -1 when unrelated to the sources' clip
    landmarks: list[np.ndarray | None] | None = None


class Method(Protocol):
    name: str

    def prepare(
        self,
        sources: np.ndarray,
        source_times: np.ndarray,
        source_landmarks: list[np.ndarray | None] | None = None,
    ) -> None: ...

    def render(self, driving: DrivingFrames) -> np.ndarray: ...


def nearest_source(source_times: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Index of the source nearest in time to each driving time (ties: the earlier source): (b,).
    Driving frames from another clip (time -1) use source 0."""
    distance = np.abs(np.asarray(times)[:, None] - np.asarray(source_times)[None, :])  # (b, n)
    chosen = np.argmin(distance, axis=1)
    return np.where(np.asarray(times) < 0, 0, chosen)


class CopySource:
    name = "copy-source"

    def prepare(
        self,
        sources: np.ndarray,
        source_times: np.ndarray,
        source_landmarks: list[np.ndarray | None] | None = None,
    ) -> None:
        self.sources, self.source_times = sources, np.asarray(source_times)

    def render(self, driving: DrivingFrames) -> np.ndarray:
        return self.sources[nearest_source(self.source_times, driving.times)].copy()


def border_points(height: int, width: int) -> np.ndarray:
    """Corners and edge midpoints (x, y): (8, 2). They pin the image frame in place."""
    xs, ys = (0.0, (width - 1) / 2, width - 1.0), (0.0, (height - 1) / 2, height - 1.0)
    return np.array([(x, y) for y in ys for x in xs if (x, y) != (xs[1], ys[1])])


def piecewise_affine_warp(
    source: np.ndarray, source_points: np.ndarray, target_points: np.ndarray
) -> np.ndarray:
    """Warp `source` (H, W, 3) uint8 so that `source_points` (p, 2) land on `target_points` (p, 2)."""
    height, width = source.shape[:2]
    border = border_points(height, width)
    target = np.concatenate([np.asarray(target_points, np.float64), border])  # (p + 8, 2)
    origin = np.concatenate([np.asarray(source_points, np.float64), border])
    triangles = Delaunay(target, qhull_options="QJ")  # joggled: duplicate landmarks are fine
    ys, xs = np.mgrid[0:height, 0:width]
    pixels = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)  # (H*W, 2) x, y
    simplex = triangles.find_simplex(pixels)  # (H*W,), -1 outside every triangle
    inside = simplex >= 0
    transform = triangles.transform[simplex[inside]]  # (q, 3, 2): inverse affine per pixel's triangle
    partial = np.einsum("qij,qj->qi", transform[:, :2], pixels[inside] - transform[:, 2])  # (q, 2)
    barycentric = np.concatenate([partial, 1 - partial.sum(axis=1, keepdims=True)], axis=1)  # (q, 3)
    corners = origin[triangles.simplices[simplex[inside]]]  # (q, 3, 2)
    mapped = pixels.copy()
    mapped[inside] = np.einsum("qk,qkd->qd", barycentric, corners)  # source x, y of each output pixel
    output = np.empty_like(source)
    for channel in range(3):
        output[..., channel] = (
            ndimage.map_coordinates(
                source[..., channel].astype(np.float32), [mapped[:, 1], mapped[:, 0]], order=1, mode="nearest"
            )
            .reshape(height, width)
            .round()
            .clip(0, 255)
        )
    return output


class LandmarkWarp:
    name = "landmark-warp"

    def __init__(self, analyzer) -> None:
        self.analyzer = analyzer

    def _landmarks(self, frame: np.ndarray) -> np.ndarray | None:
        faces = self.analyzer.detect(frame)
        return np.asarray(faces[0].landmarks, np.float64) if faces else None

    def prepare(
        self,
        sources: np.ndarray,
        source_times: np.ndarray,
        source_landmarks: list[np.ndarray | None] | None = None,
    ) -> None:
        self.sources, self.source_times = sources, np.asarray(source_times)
        self.source_landmarks = (
            [self._landmarks(source) for source in sources] if source_landmarks is None else source_landmarks
        )

    def render(self, driving: DrivingFrames) -> np.ndarray:
        chosen = nearest_source(self.source_times, driving.times)
        outputs = self.sources[chosen].copy()
        for index, frame in enumerate(driving.frames):
            target = driving.landmarks[index] if driving.landmarks is not None else self._landmarks(frame)
            origin = self.source_landmarks[chosen[index]]
            if target is not None and origin is not None:
                outputs[index] = piecewise_affine_warp(self.sources[chosen[index]], origin, target)
        return outputs
