"""AKD / MKR / AED: known answers with a fake analyzer, and on real faces with dlib."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tiwcli.evaluation.metrics import RowAccumulator, Scorer
from tiwcli.evaluation.metrics.identity import aed_per_frame
from tiwcli.evaluation.metrics.landmarks import akd_per_frame, mkr_per_frame, mouth_opening
from tiwcli.io.frames import resize_frames
from tiwcli.io.video import read_all_frames

POINTS = np.stack([np.arange(68.0), np.arange(68.0) * 0.5], axis=1)  # (68, 2)


def test_akd_of_a_known_offset():
    values = akd_per_frame([POINTS + np.array([3, 4]), POINTS, None], [POINTS, POINTS, POINTS])
    assert values[0] == pytest.approx(5.0)
    assert values[1] == 0.0
    assert np.isnan(values[2])  # no face in the generated frame: not an AKD frame


def test_mkr_counts_faces_missed_in_generated_frames():
    values = mkr_per_frame([None, POINTS, None], [POINTS, POINTS, None])
    assert values[0] == 1.0 and values[1] == 0.0 and np.isnan(values[2])


def test_aed_is_the_embedding_distance():
    a, b = np.zeros(128), np.zeros(128)
    b[0] = 0.6
    assert aed_per_frame([a, a, None], [a, b, a])[:2].tolist() == pytest.approx([0.0, 0.6])


@dataclass
class FakeFace:
    landmarks: np.ndarray


class FakeAnalyzer:
    """A face in every frame whose mean brightness is > 0, with landmarks shifted by the frame's
    top-left pixel value: lets the scorer be checked end to end with exact answers."""

    name = "fake"

    def detect(self, image):
        if image.max() == 0:
            return []
        return [FakeFace(POINTS + float(image[0, 0, 0]))]

    def embedding(self, image, face):
        return np.full(128, float(image[0, 0, 0]) / 100)


def test_scorer_face_metrics_with_a_fake_analyzer():
    scorer = Scorer(["akd", "mkr", "aed"])
    scorer.face_analyzer = FakeAnalyzer()
    real = np.full((4, 16, 16, 3), 10, np.uint8)
    pred = real.copy()
    pred[1] += 3  # landmarks off by (3, 3): AKD 3 sqrt(2); embedding off by 0.03 per dim
    pred[3] = 0  # no face: a miss
    row = RowAccumulator()
    scorer.update(row, pred, scorer.reference(real))
    result = scorer.result(row)
    assert result["akd"].value == pytest.approx(3 * np.sqrt(2) / 3)  # frames 0, 1, 2
    assert result["akd"].frames == 3
    assert result["mkr"].value == pytest.approx(0.25)
    assert result["aed"].value == pytest.approx(0.03 * np.sqrt(128) / 3)


@pytest.fixture(scope="module")
def faces_128(wolfgang) -> np.ndarray:
    frames = read_all_frames(wolfgang, max_frames=3)[:, 40:360, 250:570]  # face in the middle
    return resize_frames(frames, 128, 128)


def test_real_faces_identical_shifted_and_blank(faces_128):
    scorer = Scorer(["akd", "mkr", "aed"], face_backend="dlib")
    reference = scorer.reference(faces_128)
    assert all(points is not None for points in reference.faces.landmarks)

    row = RowAccumulator()
    scorer.update(row, faces_128, reference)
    result = scorer.result(row)
    assert result["akd"].value == 0 and result["mkr"].value == 0 and result["aed"].value == 0

    shifted = np.zeros_like(faces_128)
    shifted[:, 3:, 4:] = faces_128[:, :-3, :-4]  # content moves by (x 4, y 3): 5 px
    row = RowAccumulator()
    scorer.update(row, shifted, reference)
    assert scorer.result(row)["akd"].value == pytest.approx(5.0, abs=1.5)

    row = RowAccumulator()
    scorer.update(row, np.zeros_like(faces_128), reference)
    result = scorer.result(row)
    assert result["mkr"].value == 1.0
    assert result["akd"].value is None and "no frame" in result["akd"].note


def test_mouth_opening_is_scale_free_and_grows_with_the_gap():
    face = np.zeros((68, 2))
    face[36], face[45] = (0, 0), (10, 0)  # outer eye corners, 10 apart
    face[[61, 62, 63], 1], face[[67, 66, 65], 1] = 20, 23  # inner lips 3 apart
    assert mouth_opening(face) == pytest.approx(0.3)
    assert mouth_opening(face * 4) == pytest.approx(0.3)
    closed = face.copy()
    closed[[67, 66, 65], 1] = 20
    assert mouth_opening(closed) == 0.0


def test_mouth_opening_follows_a_real_talking_face(wolfgang):
    """On the Pexels clip (crying, surprise, smiling) the mouth opens and closes: the measure varies."""
    from tiwcli.faces.backends import load_face_analyzer

    analyzer = load_face_analyzer("dlib")
    frames = read_all_frames(wolfgang, max_frames=240)[::24]
    values = [mouth_opening(faces[0].landmarks) for faces in map(analyzer.detect, frames) if faces]
    assert len(values) >= 8
    assert 0 <= min(values) < max(values) < 1
    assert max(values) - min(values) > 0.05
