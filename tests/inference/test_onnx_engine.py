"""The ONNX export and engine (issue 25): the exported graphs run by ONNX Runtime give what the torch
model gives, on a tiny model with every landmark-prior part and on the shipped weights with real
faces, also standing in for the model in Animator; `tiw export` writes a loadable file or fails in
one line leaving nothing behind."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tiwcli.cli import app
from tiwcli.errors import InputError
from tiwcli.models import ImplicitWarping

ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")
needs_onnx = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ONNX_PACKAGES),
    reason="the onnx extra is not installed (pip install 'tiw[onnx]')",
)
PIXEL = 1 / 255


def _max_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


@pytest.fixture(scope="module")
def real_landmarks(face_photo, dlib_analyzer) -> torch.Tensor:
    """A real face's 68 landmarks in its crop's [-1, 1]: (68, 2)."""
    from tiwcli.faces.crop import crop_box_from_landmarks
    from tiwcli.inference.motion import landmarks_in_crop
    from tiwcli.io.images import load_image

    face = dlib_analyzer.detect(load_image(face_photo))[0]
    box = crop_box_from_landmarks(face.landmarks)
    return torch.from_numpy(landmarks_in_crop(face.landmarks, box, 0)).float()


@pytest.fixture(scope="module")
def tiny_model(tiny_landmark_config) -> ImplicitWarping:
    """The tiny config with every landmark-prior part: the spline at full resolution, the motion
    gate, the mouth prior, the lips following the spline and the sources' detail blended apart
    (untrained, seed 0)."""
    config = dataclasses.replace(
        tiny_landmark_config,
        landmark_flow_full_resolution=True,
        motion_gate=0.01,
        mouth_mask_logit=2.0,
        mouth_spline=2.5,
        source_detail_power=4.0,
        source_detail_sigma=3.0,
    )
    torch.manual_seed(0)
    return ImplicitWarping(config).eval()


@pytest.fixture(scope="module")
def tiny_engine(tiny_model, tmp_path_factory):
    from tiwcli.inference.onnx_engine import OnnxEngine, SessionConfig
    from tiwcli.inference.onnx_export import export_onnx

    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_onnx(tiny_model, path)
    return OnnxEngine(path, SessionConfig(threads=1))


def _moved(landmarks: torch.Tensor, count: int) -> torch.Tensor:
    """`count` variants of a face's landmarks (68, 2): shifted, scaled, the mouth opened."""
    variants = [landmarks, landmarks + torch.tensor([0.03, -0.02]), landmarks * 1.05]
    opened = landmarks.clone()
    opened[[56, 57, 58, 65, 66, 67], 1] += 0.08  # the lower lip drops
    variants.append(opened)
    return torch.stack([variants[index % len(variants)] for index in range(count)])


@needs_onnx
@pytest.mark.parametrize("num_sources", [1, 3])
def test_the_tiny_model_gives_the_same_in_onnx_runtime(tiny_model, tiny_engine, real_landmarks, num_sources):
    """One export serves any number of sources and driving frames; a driving frame without a face
    (NaN landmarks) too. Keypoints, encodings and images within 1e-4 of torch."""
    torch.manual_seed(num_sources)
    size = tiny_model.config.image_size
    sources, driving = torch.rand(1, num_sources, 3, size, size), torch.rand(3, 3, size, size)
    source_landmarks = _moved(real_landmarks, num_sources)[None]  # (1, n, 68, 2)
    driving_landmarks = _moved(real_landmarks, 4)[[3, 1, 0]]  # mouth open, shifted, no face (below)
    driving_landmarks[2] = float("nan")
    with torch.no_grad():
        expected_encoding = tiny_model.encode_sources(sources, source_landmarks)
        expected_keypoints = tiny_model.keypoint_detector(driving)
        expected = tiny_model.animate(expected_encoding, expected_keypoints, driving_landmarks)
    encoding = tiny_engine.encode_sources(sources, source_landmarks)
    keypoints = tiny_engine.keypoint_detector(driving)
    images = tiny_engine.animate(encoding, keypoints, driving_landmarks)
    assert images.shape == expected.shape == (3, 3, size, size)
    assert _max_error(keypoints.positions, expected_keypoints.positions) < 1e-4
    assert _max_error(encoding.keypoints.strengths, expected_encoding.keypoints.strengths) < 1e-4
    assert _max_error(encoding.keys, expected_encoding.keys) < 1e-4
    assert _max_error(encoding.packed, expected_encoding.packed) < 1e-4
    assert _max_error(images, expected) < 1e-4


@needs_onnx
def test_a_batch_of_encodings_renders_frame_by_frame(tiny_model, tiny_engine, real_landmarks):
    """As video editing does: each driving frame with its own source (an encoding of batch 2)."""
    size = tiny_model.config.image_size
    sources = torch.rand(2, 1, 3, size, size)
    landmarks = _moved(real_landmarks, 2)[:, None]  # (2, 1, 68, 2)
    targets = _moved(real_landmarks, 4)[[3, 2]]
    with torch.no_grad():
        encoding = tiny_model.encode_sources(sources, landmarks)
        expected = tiny_model.animate(encoding, _own_keypoints(encoding), targets)
    engine_encoding = tiny_engine.encode_sources(sources, landmarks)
    images = tiny_engine.animate(engine_encoding, _own_keypoints(engine_encoding), targets)
    assert _max_error(images, expected) < 1e-4


def _own_keypoints(encoding):
    """Each item's keypoints, of its one source: (b, k, 2), (b, k)."""
    from tiwcli.models import Keypoints

    return Keypoints(encoding.keypoints.positions[:, 0], encoding.keypoints.strengths[:, 0])


@needs_onnx
def test_a_landmark_model_without_landmarks_is_a_clear_error(tiny_engine, real_landmarks):
    size = tiny_engine.config.image_size
    encoding = tiny_engine.encode_sources(torch.rand(1, 1, 3, size, size))  # no landmarks
    keypoints = tiny_engine.keypoint_detector(torch.rand(1, 3, size, size))
    with pytest.raises(InputError, match="landmarks"):
        tiny_engine.animate(encoding, keypoints, real_landmarks[None])


def test_a_locality_prior_without_landmarks_needs_a_fixed_number_of_sources(tiny_config):
    from tiwcli.inference.onnx_export import onnx_model

    model = ImplicitWarping(dataclasses.replace(tiny_config, locality_sigma=1.0))
    with pytest.raises(InputError, match="--sources N"):
        onnx_model(model)


# the shipped weights on real faces


@pytest.fixture(scope="module")
def shipped_engine(shipped_model, tmp_path_factory):
    from tiwcli.inference.onnx_engine import OnnxEngine, SessionConfig
    from tiwcli.inference.onnx_export import export_onnx

    path = tmp_path_factory.mktemp("onnx") / "shipped.onnx"
    export_onnx(shipped_model, path)
    return OnnxEngine(path, SessionConfig(threads=1))


@pytest.fixture(scope="module")
def real_faces(shipped_model, face_photo, wolfgang):
    """Model-size crops and landmarks (dlib) of the sample photo, and of frames of a real clip."""
    from tiwcli.inference.animator import Animator
    from tiwcli.inference.options import AnimateOptions
    from tiwcli.io.images import load_image
    from tiwcli.io.video import read_all_frames

    animator = Animator(shipped_model, AnimateOptions(device="cpu", face_backend="dlib"))
    frames = read_all_frames(wolfgang, max_frames=48)
    return {
        "photo": animator.sources_from_images([load_image(face_photo)]),
        "clip sources": animator.sources_from_images([frames[index] for index in (0, 20, 40)]),
        "driving": animator.sources_from_images([frames[index] for index in (10, 30, 47)]),
    }


@needs_onnx
@pytest.mark.parametrize("which", ["photo", "clip sources"], ids=["1 source", "3 sources"])
def test_the_shipped_model_gives_the_same_image_within_a_pixel_level(
    shipped_model, shipped_engine, real_faces, which
):
    """Real crops and landmarks: the image differs from torch's by at most 1/255 anywhere."""
    from tiwcli.io.frames import frames_to_tensor

    sources, driving = real_faces[which], real_faces["driving"]
    source_images = frames_to_tensor(sources.crops)[None]  # (1, n, 3, S, S)
    source_landmarks = torch.from_numpy(sources.landmarks)[None]
    driving_images = frames_to_tensor(driving.crops)
    driving_landmarks = torch.from_numpy(driving.landmarks)
    with torch.no_grad():
        encoding = shipped_model.encode_sources(source_images, source_landmarks)
        expected = shipped_model.animate(
            encoding, shipped_model.keypoint_detector(driving_images), driving_landmarks
        )
    engine_encoding = shipped_engine.encode_sources(source_images, source_landmarks)
    keypoints = shipped_engine.keypoint_detector(driving_images)
    images = shipped_engine.animate(engine_encoding, keypoints, driving_landmarks)
    assert _max_error(images, expected) <= PIXEL


@needs_onnx
def test_the_engine_stands_in_for_the_model_in_animator(shipped_model, shipped_engine, face_photo, wolfgang):
    """The same Animator run (face tracking, relative motion, closed-mouth reference) with either:
    the output crops differ by at most one level."""
    from tiwcli.inference.animator import Animator
    from tiwcli.inference.options import AnimateOptions
    from tiwcli.io.images import load_image
    from tiwcli.io.video import read_all_frames

    photo, frames = load_image(face_photo), read_all_frames(wolfgang, max_frames=5)[::2]
    options = AnimateOptions(device="cpu", face_backend="dlib", batch_size=3, paste_back=False)
    results = []
    for model in (shipped_model, shipped_engine):
        animator = Animator(model, options)
        sources = animator.sources_from_images([photo])
        batches = list(animator.animate(sources, lambda: iter(frames), "clip"))
        results.append(np.concatenate([batch.results for batch in batches]).astype(np.int16))
    assert results[0].shape == (3, 256, 256, 3)
    assert np.abs(results[0] - results[1]).max() <= 1


# tiw export


def _export(*args: object):
    result = CliRunner().invoke(app, ["export", *map(str, args)])
    assert "Traceback" not in result.output, result.output
    return result


@needs_onnx
def test_tiw_export_writes_a_file_that_loads_and_runs(tiny_weights, tmp_path):
    """`--sources 2` fixes the number of sources; the file passes ONNX's checker and the engine
    gives the tiny model's images."""
    import onnx

    from tiwcli.checkpoint import load_model
    from tiwcli.inference.onnx_engine import OnnxEngine, SessionConfig

    output = tmp_path / "tiny.onnx"
    result = _export(tiny_weights, "-o", output, "--format", "onnx", "--sources", 2)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {output}")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tiny.onnx"]
    onnx.checker.check_model(str(output))
    engine = OnnxEngine(output, SessionConfig(threads=1, optimization="basic"))
    model = load_model(tiny_weights)
    size = model.config.image_size
    sources, driving = torch.rand(1, 2, 3, size, size), torch.rand(2, 3, size, size)
    with torch.no_grad():
        expected = model.animate(model.encode_sources(sources), model.keypoint_detector(driving))
    images = engine.animate(engine.encode_sources(sources), engine.keypoint_detector(driving))
    assert _max_error(images, expected) < 1e-4
    with pytest.raises(InputError, match="--sources 3"):
        engine.encode_sources(torch.rand(1, 3, 3, size, size))


@pytest.mark.parametrize(
    "case", ["missing weights", "unknown format", "onnxruntime missing", "not weights", "output exists"]
)
def test_tiw_export_bad_input_is_one_line_and_leaves_no_file(case, tiny_weights, tmp_path, monkeypatch):
    weights, output, extra = tiny_weights, tmp_path / "out.onnx", []
    if case == "missing weights":
        weights = tmp_path / "nowhere.safetensors"
    elif case == "unknown format":
        extra = ["--format", "tflite"]
    elif case == "onnxruntime missing":
        monkeypatch.setitem(sys.modules, "onnxruntime", None)  # an import of it fails
    elif case == "not weights":
        weights = tmp_path / "photo.safetensors"
        weights.write_bytes(b"\xff\xd8 not a checkpoint")
    elif case == "output exists":
        output.write_bytes(b"kept")
    before = sorted(tmp_path.iterdir())
    result = _export(weights, "-o", output, *extra)
    assert result.exit_code in (2, 3), result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert sorted(tmp_path.iterdir()) == before  # nothing written, nothing left half-written
    if case == "onnxruntime missing":
        assert "pip install onnxruntime" in lines[0]
    if case == "output exists":
        assert output.read_bytes() == b"kept"


@needs_onnx
def test_the_engine_refuses_files_that_are_not_tiw_exports(tmp_path):
    from tiwcli.inference.onnx_engine import OnnxEngine

    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff" * 64)  # an invalid protobuf wire type
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    for path, message in (
        (tmp_path / "none.onnx", "no such"),
        (garbage, "not a readable"),
        (empty, "not an"),
    ):
        with pytest.raises(InputError, match=message):
            OnnxEngine(path)
