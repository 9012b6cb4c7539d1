"""benchmarks/expressions/face_measures.py: teeth share, head-pose proxies and sharpness on a real photo."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from tests.repo_scripts import load_script
from tiwcli.io.images import load_image


@pytest.fixture(scope="module")
def measures():
    return load_script("benchmarks/expressions/face_measures.py")


@pytest.fixture(scope="module")
def analyzer():
    from tiwcli.faces.backends import load_face_analyzer

    return load_face_analyzer("dlib")


@pytest.fixture(scope="module")
def photo(face_photo, analyzer):
    """The sample portrait (mouth open, teeth showing) and its dlib landmarks."""
    image = load_image(face_photo)
    return image, np.asarray(analyzer.detect(image)[0].landmarks, np.float64)


def _rotate(points: np.ndarray, degrees: float, center: np.ndarray) -> np.ndarray:
    """Points turned clockwise in the image (y down) by `degrees` about `center`."""
    angle = np.radians(degrees)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (points - center) @ turn.T + center


def test_teeth_share_counts_bright_unsaturated_pixels_inside_the_inner_lips_only(measures, photo):
    image, landmarks = photo
    mask = measures.inner_lip_mask(image.shape, landmarks)
    assert 200 < mask.sum() < 5000  # the sample's open mouth, not the whole face
    ys, xs = np.nonzero(mask)
    assert landmarks[60:68, 0].min() - 1 <= xs.min() and xs.max() <= landmarks[60:68, 0].max() + 1
    assert landmarks[60:68, 1].min() - 1 <= ys.min() and ys.max() <= landmarks[60:68, 1].max() + 1
    assert 0.05 < measures.teeth_share(image, landmarks) < 0.9  # teeth and a darker cavity

    white = image.copy()
    white[mask] = (235, 235, 230)
    assert measures.teeth_share(white, landmarks) == pytest.approx(1.0)
    red = image.copy()
    red[mask] = (200, 40, 40)  # bright but saturated: a painted red hole, not teeth
    red[~mask] = 255  # a white face around it does not count
    assert measures.teeth_share(red, landmarks) == 0.0
    grey = image.copy()
    grey[mask] = (90, 90, 90)  # unsaturated but dark: the cavity
    assert measures.teeth_share(grey, landmarks) == 0.0
    half = red.copy()
    half[mask & (np.arange(image.shape[1]) < np.median(xs))[None, :]] = 250
    assert measures.teeth_share(half, landmarks) == pytest.approx(0.5, abs=0.06)


def test_a_closed_mouth_shows_no_teeth(measures, photo):
    image, landmarks = photo
    closed = landmarks.copy()
    closed[65:68] = closed[[63, 62, 61]]  # the lower inner lip on the upper one
    white = np.full_like(image, 255)
    assert measures.teeth_share(white, closed) < 0.05


def test_roll_follows_a_rotated_photo_and_yaw_a_mirrored_one(measures, photo, analyzer):
    image, landmarks = photo
    yaw, pitch, roll = measures.head_pose(landmarks)
    turned = np.asarray(Image.fromarray(image).rotate(10, resample=Image.BILINEAR))  # counter-clockwise
    turned_pose = measures.head_pose(analyzer.detect(turned)[0].landmarks)
    assert turned_pose[2] == pytest.approx(roll - 10, abs=2)
    assert turned_pose[:2] == pytest.approx([yaw, pitch], abs=0.03)
    mirrored_pose = measures.head_pose(analyzer.detect(image[:, ::-1].copy())[0].landmarks)
    assert mirrored_pose[0] == pytest.approx(-yaw, abs=0.03)
    assert mirrored_pose[2] == pytest.approx(-roll, abs=1.5)
    assert 0.3 < pitch < 1.0  # the nose tip between the eye line and the upper lip


def test_pose_proxies_are_scale_and_roll_free_and_move_with_the_nose(measures, photo):
    _, landmarks = photo
    pose = measures.head_pose(landmarks)
    center = landmarks.mean(axis=0)
    scaled = measures.head_pose((landmarks - center) * 2.5 + center + 40)
    assert scaled == pytest.approx(pose)
    rotated = measures.head_pose(_rotate(landmarks, 20, center))
    assert rotated[:2] == pytest.approx(pose[:2])
    assert rotated[2] == pytest.approx(pose[2] + 20)
    eyes = landmarks[45] - landmarks[36]
    moved = landmarks.copy()
    moved[30] += 0.1 * eyes  # the nose tip a tenth of the eye distance toward point 45: turned
    assert measures.head_pose(moved)[0] == pytest.approx(pose[0] + 0.1)
    lowered = landmarks.copy()
    lowered[30, 1] += 5  # the nose tip lower, toward the mouth: tipped down
    assert measures.head_pose(lowered)[1] > pose[1] + 0.05


def test_sharpness_falls_with_blur_and_ignores_what_lies_outside_the_face(measures, photo):
    image, landmarks = photo
    assert measures.sharpness_ratio(image, image, landmarks) == pytest.approx(1.0)
    blurred = ndimage.gaussian_filter(image.astype(np.float64), sigma=(2, 2, 0)).round().astype(np.uint8)
    assert measures.sharpness_ratio(blurred, image, landmarks) < 0.3
    rows, columns = measures.face_box(landmarks, image.shape)
    outside_blurred = blurred.copy()
    outside_blurred[rows, columns] = image[rows, columns]
    inner = (slice(rows.start + 1, rows.stop - 1), slice(columns.start + 1, columns.stop - 1))
    assert measures.laplacian_variance(outside_blurred, inner) == pytest.approx(
        measures.laplacian_variance(image, inner)
    )
    height, width = image.shape[:2]
    assert measures.face_box(None, image.shape) == (
        slice(height // 4, height - height // 4),
        slice(width // 4, width - width // 4),
    )


def _eyes(width: float = 40.0, height: float = 12.0) -> np.ndarray:
    """(68, 2) landmarks with only the eyes set: two hexagons of `width` x `height` px."""
    points = np.zeros((68, 2))
    for start, left in ((36, 40.0), (42, 120.0)):
        middle = 100.0
        third, top, bottom = width / 3, middle - height / 2, middle + height / 2
        points[start : start + 6] = [
            (left, middle), (left + third, top), (left + 2 * third, top),
            (left + width, middle), (left + 2 * third, bottom), (left + third, bottom),
        ]  # fmt: skip
    return points


@pytest.mark.parametrize("place", [0.3, 0.5, 0.7])
def test_the_pupil_is_the_darkest_column_between_the_lids(measures, place):
    landmarks = _eyes()
    image = np.full((200, 200, 3), 230, np.uint8)  # sclera
    ys, xs = np.mgrid[0:200, 0:200]
    for left in (40, 120):
        iris = (xs - (left + place * 40)) ** 2 + (ys - 100) ** 2 < 5**2
        image[iris] = 40
        image[94:96, left : left + 40] = 20  # lashes along the upper lid: dark, but in every column
    assert measures.pupil_position(image, landmarks) == pytest.approx(place, abs=0.05)


def test_the_pupil_position_of_a_real_face_is_inside_its_eyes(measures, photo):
    image, landmarks = photo
    position = measures.pupil_position(image, landmarks)
    assert 0.2 < position < 0.8
    flat = np.full_like(image, 128)
    tiny = landmarks.copy()
    tiny[36:48] = tiny[36:48].mean(0)  # eyes shut to a point: no band to read
    assert np.isnan(measures.pupil_position(flat, tiny))
