"""Baselines: nearest source in time, exact copies, piecewise-affine warps with known answers,
and a real landmark warp that moves the face toward the driving pose."""

from __future__ import annotations

import numpy as np
import pytest

from tiwcli.evaluation.baselines import (
    CopySource,
    DrivingFrames,
    LandmarkWarp,
    border_points,
    nearest_source,
    piecewise_affine_warp,
)
from tiwcli.evaluation.metrics.landmarks import akd_per_frame, observe_faces
from tiwcli.faces.backends import load_face_analyzer
from tiwcli.io.frames import resize_frames
from tiwcli.io.video import read_all_frames


def test_nearest_source_in_time():
    assert nearest_source(np.array([0, 10, 20]), np.array([1, 6, 14, 19, -1])).tolist() == [0, 1, 1, 2, 0]


def test_copy_source_returns_the_nearest_source_frame():
    sources = np.stack([np.full((8, 8, 3), v, np.uint8) for v in (10, 200)])
    method = CopySource()
    method.prepare(sources, np.array([0, 9]))
    output = method.render(DrivingFrames(np.zeros((3, 8, 8, 3), np.uint8), np.array([2, 7, 4])))
    assert output[:, 0, 0, 0].tolist() == [10, 200, 10]


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8)


def grid_points(height: int, width: int) -> np.ndarray:
    xs, ys = np.meshgrid(np.linspace(8, width - 9, 5), np.linspace(8, height - 9, 4))
    return np.stack([xs.ravel(), ys.ravel()], axis=1)  # (20, 2)


def test_warp_with_unmoved_points_is_the_identity(image):
    points = grid_points(*image.shape[:2])
    assert np.array_equal(piecewise_affine_warp(image, points, points), image)


def test_warp_with_translated_points_translates_the_inside(image):
    points = grid_points(*image.shape[:2])
    output = piecewise_affine_warp(image, points, points + np.array([3, 2]))  # content moves right 3, down 2
    # Inside the hull of the moved points every triangle is a pure translation.
    assert np.array_equal(output[12:28, 12:36], image[10:26, 9:33])


def test_border_points_pin_the_corners():
    assert border_points(10, 20).tolist()[0] == [0, 0] and [19, 9] in border_points(10, 20).tolist()


class NoFaces:
    name = "none"

    def detect(self, image):
        return []


def test_landmark_warp_copies_without_landmarks(image):
    method = LandmarkWarp(NoFaces())
    method.prepare(image[None], np.array([0]))
    output = method.render(DrivingFrames(np.zeros((2, *image.shape), np.uint8), np.array([1, 2])))
    assert np.array_equal(output[0], image) and np.array_equal(output[1], image)


def test_landmark_warp_moves_a_real_face_toward_the_driving_pose(wolfgang):
    frames = read_all_frames(wolfgang, max_frames=120)[[0, 119], 40:360, 250:570]
    source, driving = resize_frames(frames, 128, 128)
    analyzer = load_face_analyzer("dlib")
    copy, warp = CopySource(), LandmarkWarp(analyzer)
    for method in (copy, warp):
        method.prepare(source[None], np.array([0]))
    batch = DrivingFrames(driving[None], np.array([119]))
    target = observe_faces(analyzer, driving[None]).landmarks
    copy_akd = akd_per_frame(observe_faces(analyzer, copy.render(batch)).landmarks, target)[0]
    warp_akd = akd_per_frame(observe_faces(analyzer, warp.render(batch)).landmarks, target)[0]
    assert warp_akd < 0.5 * copy_akd, (warp_akd, copy_akd)
