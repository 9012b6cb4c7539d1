"""tiwcli/inference/engines.py through `tiw animate --engine onnx`: a .safetensors file is exported once
into the cache and gives torch's video; an .onnx file runs as it is; what an engine cannot do is one
line, with no output file."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tiwcli.checkpoint import save_model
from tiwcli.cli import app
from tiwcli.io.video import read_all_frames
from tiwcli.models import ImplicitWarping

needs_onnx = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("onnx", "onnxscript", "onnxruntime")),
    reason="the onnx extra is not installed (pip install 'tiw[onnx]')",
)
FRAMES = 6


@pytest.fixture(scope="module")
def landmark_weights(tmp_path_factory, tiny_landmark_config):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("engines") / "landmark.safetensors"
    save_model(path, ImplicitWarping(tiny_landmark_config))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory, wolfgang):
    from tiwcli.io.video import VideoReader, VideoWriter

    path = tmp_path_factory.mktemp("engines-clip") / "driving.mp4"
    with VideoReader(wolfgang) as reader, VideoWriter(path, reader.info.fps) as writer:
        for index, frame in enumerate(reader.frames()):
            if index == FRAMES:
                break
            writer.write(frame)
    return path


def animate(*args: object, env: dict[str, str] | None = None):
    result = CliRunner().invoke(app, ["animate", *map(str, args)], env=env)
    assert "Traceback" not in result.output, result.output
    return result


@needs_onnx
def test_engine_onnx_exports_once_and_gives_torchs_video(tmp_path, landmark_weights, clip, face_photo):
    cache = tmp_path / "cache"
    env = {"TIW_CACHE": str(cache)}
    common = ["--weights", landmark_weights, "--no-paste-back", "--threads", "1"]
    result = animate(face_photo, clip, "-o", tmp_path / "torch.mp4", *common)
    assert result.exit_code == 0, result.output
    result = animate(face_photo, clip, "-o", tmp_path / "onnx.mp4", *common, "--engine", "onnx", env=env)
    assert result.exit_code == 0, result.output
    exports = sorted((cache / "onnx").glob("*.onnx"))
    assert len(exports) == 1 and exports[0].name.startswith("landmark-")
    torch_frames = read_all_frames(tmp_path / "torch.mp4").astype(float)
    onnx_frames = read_all_frames(tmp_path / "onnx.mp4").astype(float)
    assert torch_frames.shape == onnx_frames.shape and len(torch_frames) == FRAMES
    assert np.abs(torch_frames - onnx_frames).mean() < 0.5  # the same video, up to encoding
    modified = exports[0].stat().st_mtime_ns
    result = animate(face_photo, clip, "-o", tmp_path / "again.mp4", *common, "--engine", "onnx", env=env)
    assert result.exit_code == 0 and exports[0].stat().st_mtime_ns == modified  # the cached export
    args = ["-o", tmp_path / "file.mp4", "--weights", exports[0], "--no-paste-back", "--engine", "onnx"]
    result = animate(face_photo, clip, *args)
    assert result.exit_code == 0, result.output  # an ONNX file as --weights


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--engine", "onnx", "--precision", "bf16"], "fp32"),
        (["--engine", "tensorrt"], "tensorrt"),
    ],
)
def test_what_an_engine_cannot_do_is_one_line(tmp_path, landmark_weights, clip, face_photo, extra, message):
    output = tmp_path / "out.mp4"
    result = animate(face_photo, clip, "-o", output, "--weights", landmark_weights, *extra)
    assert result.exit_code != 0 and message in result.output and not output.exists()


def test_an_onnx_file_with_the_torch_engine_is_one_line(tmp_path, clip, face_photo):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not really")
    output = tmp_path / "out.mp4"
    result = animate(face_photo, clip, "-o", output, "--weights", fake)
    assert result.exit_code != 0 and "--engine onnx" in result.output and not output.exists()


def test_the_onnx_engine_runs_on_the_cpu_only():
    from tiwcli.errors import InputError
    from tiwcli.inference.engines import check_engine

    check_engine("onnx", "cpu", "fp32")
    check_engine("onnx", "auto", "auto")
    with pytest.raises(InputError, match="CPU"):
        check_engine("onnx", "cuda:0", "auto")


@needs_onnx
def test_engine_onnx_runs_live(tmp_path, landmark_weights, clip, face_photo):
    """`tiw live --engine onnx` with landmark weights: its warm-up call before the clock starts gives
    the source's landmarks too (the ONNX engine renders a landmark model with landmarks only)."""
    output = tmp_path / "live.mp4"
    arguments = [face_photo, "--camera", clip, "-o", output, "--weights", landmark_weights,
                 "--engine", "onnx", "--threads", "1", "--max-frames", "2"]  # fmt: skip
    result = CliRunner().invoke(
        app, ["live", *map(str, arguments)], env={"TIW_CACHE": str(tmp_path / "cache")}
    )
    assert result.exit_code == 0, result.output
    assert output.is_file()
