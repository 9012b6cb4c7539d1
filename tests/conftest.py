"""Shared fixtures: tiny configs, real sample clips, single-threaded torch for steady timings."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tiwcli.config import model_preset
from tiwcli.samples import sample_file

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_config():
    return model_preset("tiny")


@pytest.fixture(scope="session")
def carphone() -> Path:
    """176x144, 120 frames, a man talking in a car (no audio)."""
    return sample_file("carphone_pristine.mp4")


@pytest.fixture(scope="session")
def wolfgang() -> Path:
    """640x360, 472 frames, a woman with strong expressions, with audio."""
    return sample_file("WolfgangLanger_Pexels.mp4")


@pytest.fixture(scope="session")
def face_photo() -> Path:
    return sample_file("single_face.jpg")
