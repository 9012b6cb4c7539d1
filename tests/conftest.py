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
def tiny_weights(tmp_path_factory, tiny_config) -> Path:
    """Untrained weights of the tiny preset (seed 0) in a safetensors file, for CLI tests."""
    from tiwcli.checkpoint import save_model
    from tiwcli.models import ImplicitWarping

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_weights") / "tiny.safetensors"
    save_model(path, ImplicitWarping(tiny_config))
    return path


@pytest.fixture(scope="session")
def tiny_landmark_config(tiny_config):
    """The tiny config with the full-resolution warp and the landmark flow prior (as landmark-256)."""
    import dataclasses

    return dataclasses.replace(
        tiny_config,
        full_resolution_warp=True,
        locality_sigma=1.0,
        landmark_flow=True,
        source_selection_tau=0.04,
    )


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


@pytest.fixture(scope="session")
def group_photo() -> Path:
    """1280x886, a cast photo of 6 people, faces of about 105 px (insightface 2.1's t1.jpg)."""
    return sample_file("t1.jpg")


@pytest.fixture(scope="session")
def shipped_model():
    """The shipped weights, loaded once per session."""
    from tiwcli.checkpoint import default_weights_path, load_model

    return load_model(default_weights_path())


@pytest.fixture(scope="session")
def dlib_analyzer():
    from tiwcli.faces.backends import load_face_analyzer

    return load_face_analyzer("dlib")


@pytest.fixture(scope="session")
def sample_dataset(tmp_path_factory) -> Path:
    """A tiny real dataset built once per session by scripts/data/make_sample_dataset.py:
    64 px clips of the first 24 frames of each sample video (carphone in test)."""
    from tests.repo_scripts import load_script

    module = load_script("scripts/data/make_sample_dataset.py")
    out_dir = tmp_path_factory.mktemp("sample_dataset")
    module.make_sample_dataset(out_dir, size=64, max_input_frames=24, min_frames=8)
    return out_dir
