"""Motion controls: the driver's landmarks split into a head pose and an expression (motion_controls.py),
checked on real landmarks turned in 3D, then end to end through `Animator` on a real photo and driver."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.repo_scripts import load_script
from tiwcli.errors import InputError
from tiwcli.inference.motion import mouth_openings
from tiwcli.inference.motion_controls import (
    MOUTH_POINTS,
    Face3D,
    MotionControls,
    Pose,
    controlled_landmarks,
    edited_landmarks,
    expression_of,
    keypoints_following_landmarks,
)
from tiwcli.inference.options import AnimateOptions


def _head_pose():
    return load_script("benchmarks/expressions/face_measures.py").head_pose


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    about_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    about_x = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    about_z = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return about_z @ about_x @ about_y


@pytest.fixture(scope="module")
def real_landmarks(face_photo, dlib_analyzer) -> np.ndarray:
    """A real face's 68 landmarks, in its crop's [-1, 1]."""
    from tiwcli.faces.crop import crop_box_from_landmarks
    from tiwcli.inference.motion import landmarks_in_crop
    from tiwcli.io.images import load_image

    face = dlib_analyzer.detect(load_image(face_photo))[0]
    return landmarks_in_crop(face.landmarks, crop_box_from_landmarks(face.landmarks), 0).astype(np.float64)


def _driven(reference: np.ndarray, yaw: float, pitch: float, roll: float, opening: float) -> np.ndarray:
    """The reference face with its jaw and lower lip dropped by `opening`, turned in 3D: (1, 68, 2)."""
    face = Face3D.lift(reference)
    expression = np.zeros((68, 3))
    expression[[55, 56, 57, 58, 59, 65, 66, 67, 7, 8, 9], 1] = opening
    pose = Pose(
        np.array([1.05]), _rotation(yaw, pitch, roll)[None], (face.centre + np.array([0.04, -0.02]))[None]
    )
    return pose.project(face.points + expression)


def test_pose_and_expression_are_recovered_exactly(real_landmarks):
    driving = _driven(real_landmarks, 0.3, 0.15, 0.1, 0.06)
    pose, expression = expression_of(driving, real_landmarks)
    assert np.allclose(pose.rotation[0], _rotation(0.3, 0.15, 0.1), atol=1e-9)
    # 2D cannot tell how the expression moves in depth: a few percent of it is lost to the turn
    assert np.allclose(expression[0, 66, :2], [0.0, 0.06], atol=0.004)
    assert np.allclose(expression[0, 36, :2], 0.0, atol=1e-9)  # an eye corner: pose alone


def test_each_control_keeps_what_it_says(real_landmarks):
    head_pose = _head_pose()
    source = real_landmarks + 0.01  # another face: the same shape, moved a little
    driving = _driven(real_landmarks, 0.3, 0.15, 0.1, 0.08)
    both = controlled_landmarks(driving, real_landmarks, source, MotionControls())[0]
    expression = controlled_landmarks(driving, real_landmarks, source, MotionControls("expression"))[0]
    pose = controlled_landmarks(driving, real_landmarks, source, MotionControls("pose"))[0]
    quiet_mouth = controlled_landmarks(driving, real_landmarks, source, MotionControls(mouth=False))[0]
    opening = float(mouth_openings(source))
    assert np.allclose(head_pose(expression), head_pose(source), atol=1e-6)  # the source's own pose
    assert np.allclose(head_pose(pose), head_pose(both), atol=1e-6)  # the driver's pose
    assert abs(head_pose(both)[0] - head_pose(source)[0]) > 0.1  # and it did turn the head
    assert float(mouth_openings(both)) > opening + 0.05
    # the same opening, seen from the front instead of turned (eye distance foreshortened)
    assert float(mouth_openings(expression)) == pytest.approx(float(mouth_openings(both)), rel=0.1)
    # pose alone: the source's face, only turned; without the mouth: the lips and jaw as the source's
    assert np.abs(expression_of(pose[None], source)[1]).max() < 1e-6
    assert np.abs(expression_of(quiet_mouth[None], source)[1][0, list(MOUTH_POINTS)]).max() < 1e-6
    half = controlled_landmarks(driving, real_landmarks, source, MotionControls("expression", 0.5))[0]
    halfway = (opening + float(mouth_openings(expression))) / 2
    assert float(mouth_openings(half)) == pytest.approx(halfway, abs=0.01)


def test_no_motion_is_the_identity(real_landmarks):
    for controls in (MotionControls("expression"), MotionControls(eyes=False), MotionControls("pose", 2.0)):
        moved = controlled_landmarks(real_landmarks[None], real_landmarks, real_landmarks, controls)
        assert np.abs(moved - real_landmarks).max() < 1e-6


def test_editing_swaps_the_expression_and_keeps_the_pose(real_landmarks):
    head_pose = _head_pose()
    source = _driven(real_landmarks, -0.2, 0.0, 0.05, 0.0)  # turned, mouth closed
    driver = _driven(real_landmarks, 0.25, 0.1, -0.1, 0.07)  # turned the other way, mouth open
    edited = edited_landmarks(source, real_landmarks, driver, real_landmarks, MotionControls())[0]
    assert np.allclose(head_pose(edited)[[0, 2]], head_pose(source[0])[[0, 2]], atol=0.02)
    assert float(mouth_openings(edited)) > float(mouth_openings(source[0])) + 0.05
    kept = edited_landmarks(source, real_landmarks, driver, real_landmarks, MotionControls(mouth=False))[0]
    assert float(mouth_openings(kept)) == pytest.approx(float(mouth_openings(source[0])), abs=1e-6)


def test_keypoints_follow_the_landmarks(real_landmarks):
    driving = _driven(real_landmarks, 0.0, 0.0, 0.0, 0.08)
    on_chin = real_landmarks[8][None]
    corner = np.array([[-0.98, -0.98]])
    moved = keypoints_following_landmarks(np.concatenate([on_chin, corner]), real_landmarks, driving)
    assert moved[0, 0, 1] - on_chin[0, 1] > 0.04  # the chin's keypoint drops with the chin
    assert np.abs(moved[0, 1] - corner[0]).max() < 1e-3  # the crop's corner stays


def test_bad_controls_are_one_line_errors():
    with pytest.raises(InputError, match="expression scale"):
        MotionControls(expression_scale=5.0)
    with pytest.raises(InputError, match="unknown motion"):
        MotionControls(motion="head")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="--mode relative"):
        AnimateOptions(mode="absolute", controls=MotionControls("pose"))


@pytest.fixture(scope="module")
def controlled_runs(shipped_model, face_photo, wolfgang):
    """The shipped weights on a real photo driven by 24 frames of a real, expressive driver,
    with each control: {name: (frames, landmarks of each output frame)}."""
    from tiwcli.inference.animator import Animator
    from tiwcli.io.images import load_image
    from tiwcli.io.video import VideoReader

    with VideoReader(wolfgang) as reader:  # frames 240-336, 8 apart: she tilts her head and smiles
        driving = [frame for index, frame in enumerate(reader.frames()) if index in range(240, 337, 8)]
    runs = {}
    # the model's own output: the driver's painted mouth interior (tested in test_mouth_interior.py)
    # changes how dlib fits the whole face, moving its eye corners by a pixel (0.6 degrees of roll)
    # from one colour transfer to the next
    base = AnimateOptions(
        batch_size=13, device="cpu", face_backend="dlib", paste_back=False, mouth_interior="warp"
    )
    for name, controls in {
        "both": MotionControls(),
        "expression": MotionControls("expression"),
        "pose": MotionControls("pose"),
    }.items():
        animator = Animator(shipped_model, dataclasses.replace(base, controls=controls))
        sources = animator.sources_from_images([load_image(face_photo)], ["photo"])
        batches = animator.animate(sources, lambda: iter(driving), "driver")
        runs[name] = np.concatenate([batch.frames for batch in batches])
    return runs


def _measures(frames, analyzer):
    head_pose = _head_pose()
    rows = []
    for frame in frames:
        faces = analyzer.detect(frame)
        assert faces, "the output lost its face"
        landmarks = faces[0].landmarks.astype(np.float64)
        rows.append([*head_pose(landmarks), float(mouth_openings(landmarks))])
    return np.array(rows)  # (t, 4) yaw, pitch, roll, mouth


def test_motion_expression_keeps_the_source_pose_and_pose_keeps_its_mouth(controlled_runs, dlib_analyzer):
    """End to end: with --motion expression the head pose of the output moves much less than with
    both (it stays the source's), and with --motion pose the mouth opening stays the source's."""
    both = _measures(controlled_runs["both"], dlib_analyzer)
    expression = _measures(controlled_runs["expression"], dlib_analyzer)
    pose = _measures(controlled_runs["pose"], dlib_analyzer)
    still = _measures(controlled_runs["both"][:1], dlib_analyzer)[0]  # frame 0: the source as it is
    roll_both = np.abs(both[:, 2] - still[2]).max()
    assert roll_both > 2  # degrees: the driver does tilt her head
    assert np.abs(expression[:, 2] - still[2]).max() < roll_both / 2
    assert np.abs(expression[:, 0] - still[0]).max() < np.abs(both[:, 0] - still[0]).max()
    # the pose follows the driver's: dlib's eye corners move with the eyes' expression, which only
    # `both` has (1.9 degrees at most with the weights of 2026-12-06 evening, 1.5 before)
    assert np.abs(pose[:, 2] - both[:, 2]).max() < 2.5
    assert np.abs(pose[:, 3] - still[3]).max() < 0.03  # the mouth stays as it was
    assert np.abs(both[:, 3] - still[3]).max() > 0.05  # while driven, it opens


def test_controlled_outputs_keep_the_person(controlled_runs, dlib_analyzer, face_photo):
    """Each control keeps the source person (dlib distance under 0.5) in the most moved frame."""
    from tiwcli.io.images import load_image

    photo = load_image(face_photo)
    reference = dlib_analyzer.embedding(photo, dlib_analyzer.detect(photo)[0])
    for name, frames in controlled_runs.items():
        moved = int(np.abs(frames.astype(np.int16) - frames[:1]).mean(axis=(1, 2, 3)).argmax())
        face = dlib_analyzer.detect(frames[moved])[0]
        distance = float(np.linalg.norm(dlib_analyzer.embedding(frames[moved], face) - reference))
        assert distance < 0.5, f"--motion {name}: frame {moved} is {distance:.2f} from the source"


def test_the_mouth_weight_says_how_much_of_the_drivers_opening_reaches_the_source():
    """What `--mouth-scale` multiplies: all of it by default, none with the mouth off or the pose
    alone, the expression scale's share otherwise."""
    assert MotionControls().mouth_weight == 1
    assert MotionControls(motion="pose").mouth_weight == 0
    assert MotionControls(mouth=False).mouth_weight == 0
    assert MotionControls(expression_scale=2.0, eyes=False).mouth_weight == 2
