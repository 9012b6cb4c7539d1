"""tiwcli/faces/follow.py on real clips: the detector runs rarely, the crops match detecting every frame."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tiwcli.errors import InputError
from tiwcli.faces.backends import FaceAnalyzer, load_face_analyzer
from tiwcli.faces.crop import CropBox, crop_box_from_landmarks
from tiwcli.faces.follow import FaceFollower, TrackInProgress, appearance_patch, follow_faces
from tiwcli.faces.track import BoxSmoother, track_faces
from tiwcli.io.video import read_all_frames


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return load_face_analyzer("dlib")


@pytest.fixture(scope="module")
def carphone_frames(carphone) -> np.ndarray:
    return read_all_frames(carphone)  # 120 frames, 176x144


@pytest.fixture(scope="module")
def wolfgang_frames(wolfgang) -> np.ndarray:
    return read_all_frames(wolfgang, max_frames=48)  # 640x360


def centre_offsets(track_a, track_b) -> np.ndarray:
    """(t,) distance between the two tracks' smoothed crop centres, as a fraction of the crop."""
    a, b = track_a.smoothed_array(), track_b.smoothed_array()
    return np.hypot(*(a[:, :2] - b[:, :2]).T) / a[:, 2]


@pytest.mark.parametrize("clip", ["carphone_frames", "wolfgang_frames"])
def test_tracking_matches_detecting_every_frame_with_few_detections(clip, analyzer, request):
    frames = request.getfixturevalue(clip)
    follower = FaceFollower(analyzer, detect_every=8)
    fast = follow_faces(iter(frames), analyzer, follower=follower)
    full = track_faces(iter(frames), analyzer)
    assert fast.num_frames == full.num_frames == len(frames)
    assert follower.stats.detections <= len(frames) // 8 + 4  # a few re-detections at most
    assert follower.stats.tracked >= len(frames) * 3 // 4
    assert fast.num_missing <= full.num_missing
    offsets = centre_offsets(full, fast)
    assert offsets.mean() < 0.01 and offsets.max() < 0.03  # of the crop side
    # per frame, where the detector found the face: the same size (dlib's landmarks move by a
    # pixel or two either way); where it did not, tracking still gives a face
    sizes = np.abs(fast.raw_boxes[full.found, 2] / full.raw_boxes[full.found, 2] - 1)
    assert sizes.mean() < 0.03 and sizes.max() < 0.1
    assert fast.landmarks is not None and fast.landmarks.shape == (len(frames), 68, 2)


def test_a_face_that_jumps_is_detected_again_not_followed(analyzer, wolfgang_frames):
    """The predictor, seeded where the face was, would put landmarks there anyway."""
    follower = FaceFollower(analyzer, detect_every=100)
    first = follower.update(wolfgang_frames[0])
    assert first is not None
    moved = np.roll(wolfgang_frames[1], 120, axis=1)  # the face 120 px to the right
    face = follower.update(moved)
    assert face is not None
    assert follower.stats.failures == 1 and follower.stats.detections == 2
    shift = (
        crop_box_from_landmarks(face.landmarks).center_x - crop_box_from_landmarks(first.landmarks).center_x
    )
    assert 100 < shift < 140


def test_a_face_that_vanishes_is_missing_within_one_frame(analyzer, wolfgang_frames):
    follower = FaceFollower(analyzer, detect_every=100)
    assert follower.update(wolfgang_frames[0]) is not None
    assert follower.update(np.zeros_like(wolfgang_frames[1])) is None
    assert follower.stats.missing == 1


def test_backends_that_cannot_track_detect_every_frame(analyzer, carphone_frames):
    class DetectOnly(FaceAnalyzer):
        def __init__(self) -> None:
            self.calls = 0

        def detect(self, image, *, thorough=False):
            self.calls += 1
            return analyzer.detect(image)

    detect_only = DetectOnly()
    track = follow_faces(iter(carphone_frames[:10]), detect_only, detect_every=8)
    assert detect_only.calls == 10
    assert track.num_frames == 10


def test_no_face_anywhere_is_an_input_error(analyzer):
    blank = np.zeros((4, 120, 160, 3), np.uint8)
    with pytest.raises(InputError, match="no face found"):
        follow_faces(iter(blank), analyzer, name="blank.mp4")
    with pytest.raises(InputError, match="at least 1"):
        FaceFollower(analyzer, detect_every=0)


def test_appearance_patch_is_a_normalised_correlation(wolfgang_frames, analyzer):
    face = analyzer.detect(wolfgang_frames[0])[0]
    patch = appearance_patch(wolfgang_frames[0], face.landmarks)
    assert patch.shape == (24, 24)
    assert float((patch * patch).sum()) == pytest.approx(1.0, abs=1e-5)
    assert float((patch * appearance_patch(wolfgang_frames[1], face.landmarks)).sum()) > 0.6


def test_box_smoother_follows_slowly_and_resets_on_a_jump():
    smoother = BoxSmoother(center_alpha=0.5, size_alpha=0.1)
    assert smoother.current is None
    assert smoother.update(CropBox(100, 100, 200)) == CropBox(100, 100, 200)
    moved = smoother.update(CropBox(110, 100, 220))
    assert moved.center_x == pytest.approx(105) and moved.size == pytest.approx(202)
    jumped = smoother.update(CropBox(400, 100, 200))  # more than half a crop away: a new face
    assert jumped == CropBox(400, 100, 200)


def test_track_in_progress_gives_exactly_the_offline_boxes(analyzer, carphone_frames):
    frames = carphone_frames.copy()
    frames[:5] = 0  # no face at first: those frames take the first face's box
    frames[50:53] = 0  # a gap: the last good box
    offline = follow_faces(iter(frames), analyzer)
    with TrackInProgress(iter(frames), analyzer) as track:
        boxes = np.stack([track.box(index).as_array() for index in range(len(frames) + 2)])
        result = track.result()
    np.testing.assert_array_equal(boxes[: len(frames)], offline.smoothed_array())
    np.testing.assert_array_equal(boxes[-1], boxes[len(frames) - 1])  # past the end: the last box
    assert result.num_missing == offline.num_missing == 8


def test_track_in_progress_hands_out_boxes_before_the_pass_ends(analyzer, carphone_frames):
    released = threading.Event()

    def frames():
        yield from carphone_frames[:60]
        released.wait(timeout=30)  # the pass stalls here until box 0 has been handed out
        yield from carphone_frames[60:]

    with TrackInProgress(frames(), analyzer) as track:
        assert track.reach < 60
        track.box(0)  # final long before the end of the video
        released.set()
        assert track.result().num_frames == len(carphone_frames)


def test_track_in_progress_without_a_face_raises_when_a_box_is_asked(analyzer):
    with TrackInProgress(iter(np.zeros((6, 120, 160, 3), np.uint8)), analyzer, name="blank.mp4") as track:
        with pytest.raises(InputError, match=r"blank\.mp4: no face found"):
            track.box(0)


def test_a_repeated_frame_keeps_its_landmarks(analyzer, wolfgang_frames):
    """A still (the same frame again and again) must not drift: the predictor, seeded from the last
    landmarks, would move them on the same pixels, and that would animate a face that stands still."""
    frame = wolfgang_frames[0]
    follower = FaceFollower(analyzer, detect_every=8)
    faces = [follower.update(frame.copy()) for _ in range(6)]
    assert all(np.array_equal(face.landmarks, faces[0].landmarks) for face in faces)
    assert follower.stats.detections == 1
    moved = follower.update(wolfgang_frames[1])  # a new frame is tracked as before
    assert moved is not None and follower.stats.detections == 1
