"""Several source photos of different people: `tiw animate` warns (the model would blend them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from tiwcli.checkpoint import save_model
from tiwcli.cli import app
from tiwcli.faces.backends import load_face_analyzer
from tiwcli.inference.jobs import AnimationJob, different_people_warning, prepare_job
from tiwcli.io.video import VideoReader
from tiwcli.models import ImplicitWarping


@pytest.fixture(scope="module")
def woman(tmp_path_factory, wolfgang) -> Path:
    path = tmp_path_factory.mktemp("woman") / "woman.png"
    with VideoReader(wolfgang) as reader:
        Image.fromarray(next(reader.frames())).save(path)
    return path


@pytest.fixture(scope="module")
def mirrored_man(tmp_path_factory, face_photo) -> Path:
    path = tmp_path_factory.mktemp("man") / "man_mirrored.png"
    Image.fromarray(np.ascontiguousarray(np.asarray(Image.open(face_photo))[:, ::-1])).save(path)
    return path


def warning_for(sources: list[Path], carphone: Path, tmp_path: Path) -> str | None:
    job = AnimationJob(sources, carphone, tmp_path / "out.mp4", weights=None)
    return different_people_warning(prepare_job(job), load_face_analyzer("dlib"))


def test_different_people_are_flagged(tmp_path, face_photo, woman, carphone):
    warning = warning_for([face_photo, woman], carphone, tmp_path)
    assert warning is not None and "look like different people" in warning and "woman.png" in warning


def test_one_person_is_not_flagged(tmp_path, face_photo, mirrored_man, carphone):
    assert warning_for([face_photo, mirrored_man], carphone, tmp_path) is None
    assert warning_for([face_photo], carphone, tmp_path) is None


def test_animate_prints_the_warning_and_still_runs(tmp_path, face_photo, woman, carphone, tiny_config):
    torch.manual_seed(0)
    weights = tmp_path / "tiny.safetensors"
    save_model(weights, ImplicitWarping(tiny_config))
    out = tmp_path / "out.mp4"
    arguments = [face_photo, woman, carphone, "-o", out, "--weights", weights]
    result = CliRunner().invoke(app, ["animate", *map(str, arguments)])
    assert result.exit_code == 0, result.output
    assert "warning: " in result.stderr and "different people" in result.stderr
    assert out.exists()
