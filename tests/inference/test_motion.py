"""Relative motion of the landmarks' mouth: openings, closing a mouth, the closed-mouth reference."""

from __future__ import annotations

import numpy as np
import pytest

from tiwcli.evaluation.metrics.landmarks import mouth_opening
from tiwcli.inference import motion
from tiwcli.inference.motion import (
    MOUTH_OPENING_BASIS,
    UPPER_LIP,
    close_mouth,
    closed_mouth_references,
    closed_source_mouth,
    least_openings,
    motion_landmarks,
    mouth_openings,
    scaled_mouth_opening,
)
from tiwcli.io.images import load_image

UPPER, LOWER = [61, 62, 63], [67, 66, 65]


@pytest.fixture(scope="module")
def face(face_photo) -> np.ndarray:
    """Real 68 landmarks (dlib) of the sample photo, in a crop's [-1, 1]-like units."""
    from tiwcli.faces.backends import load_face_analyzer

    landmarks = load_face_analyzer("dlib").detect(load_image(face_photo))[0].landmarks.astype(np.float64)
    landmarks = (landmarks - landmarks.mean(axis=0)) / 200.0
    landmarks[LOWER] = landmarks[UPPER]  # shut: gap 0
    return landmarks


def opened(face: np.ndarray, amount: float) -> np.ndarray:
    """`face` with the mouth opened by `amount` of mouth_openings."""
    return close_mouth(face, -amount)


def test_mouth_openings_is_the_per_face_measure_batched(face):
    faces = np.stack([face, opened(face, 0.2), np.full((68, 2), np.nan)])
    values = mouth_openings(faces)
    assert values.shape == (3,)
    assert values[0] == pytest.approx(0.0, abs=1e-9)
    assert values[1] == pytest.approx(mouth_opening(faces[1]))
    assert np.isnan(values[2])


def test_close_mouth_moves_lips_and_jaw_along_the_face_not_the_eyes(face):
    wide = opened(face, 0.2)
    assert mouth_openings(wide) == pytest.approx(0.2, rel=0.05)  # the basis opens 1:1 in the gap
    eyes_brows_nose = [i for i in range(68) if i not in MOUTH_OPENING_BASIS]
    assert np.array_equal(wide[eyes_brows_nose], face[eyes_brows_nose])
    assert (wide[LOWER, 1] > face[LOWER, 1]).all() and wide[8, 1] > face[8, 1]  # lip and chin drop
    assert (wide[UPPER, 1] < face[UPPER, 1]).all()  # the upper lip rises a little
    # a rolled face opens along its own vertical axis
    angle = np.deg2rad(30)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rolled = face @ rotation.T
    assert np.allclose(opened(rolled, 0.2), wide @ rotation.T, atol=1e-9)


def test_a_source_with_parted_lips_opens_only_as_far_as_the_driver_once_closed(face):
    """A portrait smiling with its lips apart (0.15): relative motion adds the driver's 0.2 to its
    0.15 as it is; with its mouth closed first, the output opens 0.2, and shuts when the driver does.
    Eyes, brows and nose stay where the portrait has them."""
    smiling = opened(face, 0.15)
    shut = closed_source_mouth(smiling)
    assert mouth_openings(shut) == pytest.approx(0.0, abs=0.01)
    eyes_brows_nose = [i for i in range(68) if i not in MOUTH_OPENING_BASIS]
    assert np.array_equal(shut[eyes_brows_nose], smiling[eyes_brows_nose])
    driver = face + np.array([0.03, 0.0])
    driving = np.stack([driver, opened(driver, 0.2), driver]).astype(np.float32)
    as_is = mouth_openings(motion_landmarks(driving, driving[0], smiling, "relative"))
    closed = mouth_openings(motion_landmarks(driving, driving[0], shut, "relative"))
    assert as_is == pytest.approx([0.15, 0.35, 0.15], abs=0.02)
    assert closed == pytest.approx([0.0, 0.2, 0.0], abs=0.02)
    assert np.isnan(closed_source_mouth(np.full((68, 2), np.nan))).all()


def test_a_scaled_mouth_opens_that_many_times_the_drivers_opening_and_nothing_else(face):
    """`--mouth-scale` 1.5: a driver opening 0.2 from its reference opens the moved face 0.3 from
    where it was (a portrait with parted lips: from its own 0.1), closes when the driver does, and
    leaves the eyes, brows and nose where relative motion put them. 1 changes nothing; a face the
    driver has not (NaN) stays NaN; a reference per frame (closed_mouth_references) works alike."""
    portrait = opened(face, 0.1)
    driver = face + np.array([0.03, 0.0])
    driving = np.stack([driver, opened(driver, 0.2), opened(driver, 0.1), driver, np.full((68, 2), np.nan)])
    moved = motion_landmarks(driving.astype(np.float32), driving[0], portrait, "relative")
    assert scaled_mouth_opening(moved, driving, driving[0], 1.0) is moved
    wider = scaled_mouth_opening(moved, driving, driving[0], 1.5)
    assert mouth_openings(wider[:4]) == pytest.approx([0.1, 0.4, 0.25, 0.1], abs=0.02)
    eyes_brows_nose = [i for i in range(68) if i not in MOUTH_OPENING_BASIS]
    assert np.array_equal(wider[:4, eyes_brows_nose], moved[:4, eyes_brows_nose])
    assert np.isnan(wider[4]).all()
    per_frame = np.broadcast_to(driving[0], driving.shape)
    assert np.allclose(scaled_mouth_opening(moved, driving, per_frame, 1.5)[:4], wider[:4])
    # less than 1 damps the opening; 0 keeps the portrait's own mouth, lips never crossed
    still = scaled_mouth_opening(moved, driving, None, 0.0)
    assert mouth_openings(still[:4]) == pytest.approx([0.1] * 4, abs=0.02)


def test_the_jaw_way_opens_as_far_with_the_upper_lip_still(face, monkeypatch):
    """`SCALED_OPENING` "jaw" (the default since the twenty-first rule): the same added opening as
    "lips" (the default before), the upper lip (and everything above the mouth) where relative
    motion put it, the lower lip and chin lower."""
    driver = face + np.array([0.03, 0.0])
    driving = np.stack([driver, opened(driver, 0.2)])
    moved = motion_landmarks(driving.astype(np.float32), driving[0], face, "relative")
    monkeypatch.setattr(motion, "SCALED_OPENING", "lips")
    lips = scaled_mouth_opening(moved, driving, driving[0], 1.5)
    monkeypatch.setattr(motion, "SCALED_OPENING", "jaw")
    jaw = scaled_mouth_opening(moved, driving, driving[0], 1.5)
    assert mouth_openings(jaw) == pytest.approx(mouth_openings(lips), abs=1e-3)
    assert mouth_openings(jaw)[1] == pytest.approx(0.3, abs=0.02)
    still = [i for i in range(68) if i not in MOUTH_OPENING_BASIS or i in UPPER_LIP]
    assert np.allclose(jaw[:, still], moved[:, still], atol=1e-6)
    assert (jaw[1, UPPER, 1] > lips[1, UPPER, 1]).all()  # "lips" raised the upper lip, "jaw" does not
    assert jaw[1, 8, 1] > lips[1, 8, 1] > moved[1, 8, 1]  # the chin drops further


def test_openings_are_measured_from_the_drivers_least_open_mouth(face):
    """A driver that starts with the mouth open (0.2), shuts it, then opens it again (0.2):
    from the first frame, the source's mouth stays shut at the end; from the closed reference it
    opens by the driver's 0.2, and with a look-ahead it is already shut before the driver shuts."""
    source = face + np.array([0.05, 0.0])  # another face, with its mouth shut
    driving = np.stack([opened(face, 0.2), opened(face, 0.2), face, opened(face, 0.2)]).astype(np.float32)
    from_frame = mouth_openings(motion_landmarks(driving, driving[0], source, "relative"))
    assert from_frame[-1] == pytest.approx(0.0, abs=1e-3)

    references = closed_mouth_references(driving[0], driving)
    assert references.shape == (4, 68, 2)
    from_closed = mouth_openings(motion_landmarks(driving, references, source, "relative"))
    assert from_closed[:3] == pytest.approx([0.0, 0.0, 0.0], abs=0.01)
    assert from_closed[3] == pytest.approx(0.2, rel=0.1)

    ahead = np.array([0.0, 0.0, 0.2, np.nan])  # the least opening of the frames after each
    with_ahead = mouth_openings(
        motion_landmarks(driving, closed_mouth_references(driving[0], driving, ahead), source, "relative")
    )
    assert with_ahead[0] == pytest.approx(0.2, rel=0.1)  # the driver will shut: this is open
    assert with_ahead[3] == pytest.approx(0.2, rel=0.1)


def test_closed_references_stream_like_one_batch_and_skip_faceless_frames(face):
    rng = np.random.default_rng(0)
    driving = np.stack([opened(face, value) for value in rng.uniform(0.0, 0.3, 10)]).astype(np.float32)
    driving[4] = np.nan  # no face
    whole = closed_mouth_references(driving[0], driving)
    first = closed_mouth_references(driving[0], driving[:6])
    least = least_openings(driving[0], driving[:6])[-1]
    rest = closed_mouth_references(driving[0], driving[6:], least_before=least)
    assert np.allclose(np.concatenate([first, rest]), whole, atol=1e-6)
    least = np.fmin.accumulate(mouth_openings(driving.astype(np.float64)))
    assert np.allclose(mouth_openings(whole.astype(np.float64)), least, atol=0.01)
    assert np.isfinite(whole).all()
