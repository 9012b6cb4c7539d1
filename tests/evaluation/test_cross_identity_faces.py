"""benchmarks/cross_identity.py: the pose-tolerant face-found measure (RULE.md, fifth rule), real photo."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.repo_scripts import load_script
from tiwcli.io.images import load_image


@pytest.fixture(scope="module")
def cross_identity():
    return load_script("benchmarks/cross_identity.py", register=True)


@pytest.fixture(scope="module")
def face_crop(face_photo):
    """The sample portrait's face, 256x256 as the model outputs it."""
    from tiwcli.faces.backends import load_face_analyzer

    image = load_image(face_photo)
    x0, y0, x1, y1 = load_face_analyzer("dlib").detect(image)[0].box
    side = 1.8 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    box = tuple(int(v) for v in (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
    return np.asarray(Image.fromarray(image).crop(box).resize((256, 256), Image.BICUBIC))


def test_cnn_detector_finds_a_real_face_upright_and_tilted(cross_identity, face_crop):
    assert cross_identity.cnn_finds_face(face_crop)
    tilted = np.asarray(
        Image.fromarray(face_crop).rotate(30, resample=Image.BICUBIC, fillcolor=(128, 128, 128))
    )
    assert cross_identity.cnn_finds_face(tilted)


def test_cnn_detector_finds_no_face_where_there_is_none(cross_identity, face_crop):
    assert not cross_identity.cnn_finds_face(np.full((256, 256, 3), 128, np.uint8))
    rng = np.random.default_rng(0)
    scrambled = rng.permutation(face_crop.reshape(-1, 3)).reshape(face_crop.shape)  # its colours, no face
    assert not cross_identity.cnn_finds_face(scrambled)
