"""Video editing (inference/video_edit.py): a real talking-head clip takes a real driver's expression
with the shipped weights. Properties: the source's length, its background and pose, its identity;
the mouth moves toward the driver's; frames without a face pass through unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from tiwcli.inference.animator import Animator
from tiwcli.inference.motion import mouth_openings, scaled_mouth_opening
from tiwcli.inference.motion_controls import MotionControls, edited_landmarks
from tiwcli.inference.options import AnimateOptions
from tiwcli.inference.video_edit import EditPlan, edit_frames, plan_edit
from tiwcli.io.video import VideoReader
from tiwcli.samples import sample_file


def _frames(path, indices: range) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        return [frame for index, frame in enumerate(reader.frames()) if index in indices]


@pytest.fixture(scope="module")
def driver(wolfgang) -> list[np.ndarray]:
    return _frames(wolfgang, range(240, 337, 8))  # she smiles and talks, her mouth opens


def _edit(model, source: list[np.ndarray], driver: list[np.ndarray], controls: MotionControls | None = None):
    controls = controls or MotionControls()
    options = AnimateOptions(batch_size=8, device="cpu", face_backend="dlib", controls=controls)
    animator = Animator(model, options)
    plan = plan_edit(animator, lambda: iter(source), lambda: iter(driver), ("source", "driver"))
    batches = list(edit_frames(animator, plan, lambda: iter(source)))
    frames = np.concatenate([frames for frames, _ in batches])
    edited = np.concatenate([flags for _, flags in batches])
    return plan, frames, edited


def test_the_driver_plays_forward_then_back():
    plan = EditPlan(None, np.zeros((5, 68, 2)), np.zeros((4, 68, 2)), 0, 0)  # type: ignore[arg-type]
    assert [plan.driving_index(t) for t in range(10)] == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]


@pytest.fixture(scope="module")
def edited_run(shipped_model, driver):
    source = _frames(sample_file("single_face.mp4"), range(0, 48, 3))  # a man on a webcam, 16 frames
    return source, *_edit(shipped_model, source, driver)


def test_edit_keeps_the_length_the_background_and_the_person(edited_run, dlib_analyzer):
    source, plan, frames, edited = edited_run
    assert len(frames) == len(source) and edited.all()
    for original, frame, box in zip(source, frames, plan.source.boxes, strict=True):
        outside = np.ones(original.shape[:2], bool)
        outside[max(int(box.y0), 0) : int(np.ceil(box.y1)), max(int(box.x0), 0) : int(np.ceil(box.x1))] = (
            False
        )
        assert np.array_equal(frame[outside], original[outside])
    for index in (0, len(frames) // 2, len(frames) - 1):
        source_face = dlib_analyzer.detect(source[index])[0]
        output_face = dlib_analyzer.detect(frames[index])[0]
        assert np.abs(output_face.box - source_face.box).max() < 12  # the head stays where it was
        distance = np.linalg.norm(
            dlib_analyzer.embedding(source[index], source_face)
            - dlib_analyzer.embedding(frames[index], output_face)
        )
        assert distance < 0.5


def test_edit_moves_the_mouth_toward_the_driver_and_no_mouth_keeps_it(
    edited_run, shipped_model, driver, dlib_analyzer
):
    source, plan, frames, _ = edited_run
    own = plan.source_landmarks.astype(np.float64)
    drv = plan.driving_landmarks[[plan.driving_index(t) for t in range(len(source))]].astype(np.float64)
    neutral = plan.driving_landmarks[plan.driving_neutral].astype(np.float64)
    asked = edited_landmarks(own, own[plan.source_neutral], drv, neutral, MotionControls())
    target = mouth_openings(scaled_mouth_opening(asked, drv, neutral, AnimateOptions().mouth_scale))

    def measured(images):
        return np.array(
            [mouth_openings(dlib_analyzer.detect(image)[0].landmarks.astype(np.float64)) for image in images]
        )

    before, after = measured(source), measured(frames)
    assert np.abs(after - target).mean() < 0.8 * np.abs(before - target).mean()
    _, kept, _ = _edit(shipped_model, source, driver, MotionControls(mouth=False))
    kept_change = np.abs(measured(kept) - before)  # dlib's own noise on a wide smile: about 0.03
    assert kept_change.mean() < 0.01 and kept_change.max() < 0.05
    assert np.abs(after - before).mean() > 3 * kept_change.mean()


def test_frames_without_a_face_pass_through(shipped_model, driver):
    source = _frames(sample_file("face_noface.mov"), range(40, 110, 6))  # the face, then a cartoon
    _, frames, edited = _edit(shipped_model, source, driver[:4])
    assert edited.any() and not edited.all()
    for original, frame, flag in zip(source, frames, edited, strict=True):
        if not flag:
            assert np.array_equal(frame, original)
