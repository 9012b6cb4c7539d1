"""`tiw eval`: frame plans, the three protocols on real clips, outputs, determinism, CLI errors."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tiwcli.checkpoint import save_model
from tiwcli.cli import app
from tiwcli.evaluation.protocols import driving_indices, evaluate_dataset, source_indices
from tiwcli.evaluation.report import EvalSettings
from tiwcli.io.frames import resize_frames
from tiwcli.io.video import VideoWriter, read_all_frames
from tiwcli.models.implicit_warping import ImplicitWarping

runner = CliRunner()


def test_source_and_driving_frames():
    assert source_indices(20, 1).tolist() == [0]
    assert source_indices(20, 3).tolist() == [0, 10, 19]
    driving = driving_indices(20, [1, 2, 3], None)
    assert not set(driving) & {0, 10, 19} and len(driving) == 17
    assert driving_indices(20, [1, 2, 3], 4).tolist() == [1, 6, 13, 18]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, carphone, wolfgang, tiny_config) -> Path:
    """Two real 64 px face clips of 20 frames in DIR/test, and an untrained tiny model."""
    root = tmp_path_factory.mktemp("dataset")
    (root / "test").mkdir()
    crops = {
        "carphone": read_all_frames(carphone, max_frames=20)[:, 27:107, 50:130],
        "wolfgang": read_all_frames(wolfgang, max_frames=20)[:, 60:360, 262:562],
    }
    for name, frames in crops.items():
        with VideoWriter(root / "test" / f"{name}.mp4", 25, crf=12) as writer:
            writer.write_batch(resize_frames(frames, 64, 64))
    torch.manual_seed(0)
    save_model(root / "tiny.safetensors", ImplicitWarping(tiny_config))
    return root


def test_reconstruction_end_to_end(dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch-home"))  # LPIPS backbone absent
    out = {suffix: tmp_path / f"report.{suffix}" for suffix in ("json", "csv", "png")}
    result = runner.invoke(
        app,
        [
            "eval",
            "--data",
            str(dataset),
            "--weights",
            str(dataset / "tiny.safetensors"),
            "--num-sources",
            "1,2",
            "--max-frames",
            "4",
            "--fid-frames",
            "2",
            "--json",
            str(out["json"]),
            "--csv",
            str(out["csv"]),
            "--plot",
            str(out["png"]),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "PSNR ↑" in result.output and "copy-source" in result.output
    assert "LPIPS unavailable: ImageNet AlexNet weights alexnet-owt-7be5be79.pth" in result.output
    report = json.loads(out["json"].read_text())
    rows = {(row["method"], row["num_sources"]): row["metrics"] for row in report["rows"]}
    assert set(rows) == {(m, n) for m in ("implicit-warping", "copy-source", "landmark-warp") for n in (1, 2)}
    for metrics in rows.values():
        assert metrics["l1"]["frames"] == 8  # the same 4 driving frames per clip for every N
        assert metrics["lpips"]["value"] is None and "unavailable" in metrics["lpips"]["note"]
        assert metrics["fid"]["frames"] == 2
    # The baselines copy/warp real frames: far closer to the truth than an untrained network.
    assert rows[("copy-source", 1)]["psnr"]["value"] > rows[("implicit-warping", 1)]["psnr"]["value"]
    assert rows[("landmark-warp", 1)]["akd"]["value"] < rows[("copy-source", 1)]["akd"]["value"]
    with out["csv"].open() as handle:
        assert len(list(csv.DictReader(handle))) == 6
    assert out["png"].read_bytes()[:4] == b"\x89PNG"


def test_dataset_evaluation_is_deterministic(dataset):
    from tiwcli.checkpoint import load_model

    model = load_model(dataset / "tiny.safetensors")
    clips = sorted((dataset / "test").glob("*.mp4"))
    settings = EvalSettings(
        metrics=("l1", "psnr", "akd"), num_sources=(1, 3), max_frames=3, baselines=("copy-source",)
    )
    first = evaluate_dataset(clips, model, settings).to_dict()
    assert first == evaluate_dataset(clips, model, settings).to_dict()


def test_cross_identity_baselines_only(dataset):
    result = runner.invoke(
        app,
        [
            "eval",
            "--data",
            str(dataset),
            "--no-model",
            "--cross-identity",
            "--max-frames",
            "3",
            "--metrics",
            "l1,akd,aed",
            "--baselines",
            "copy-source",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "L1 unavailable: needs ground truth" in result.output
    assert "cross-identity" in result.output


def write_clip(path: Path, frames: np.ndarray) -> None:
    with VideoWriter(path, 25, crf=12) as writer:
        writer.write_batch(frames)


def test_pred_real_videos(tmp_path, carphone):
    frames = read_all_frames(carphone, max_frames=12)
    for folder in ("real", "same", "shifted"):
        (tmp_path / folder).mkdir()
    write_clip(tmp_path / "real" / "clip.mp4", frames)
    shutil.copy(tmp_path / "real" / "clip.mp4", tmp_path / "same" / "clip.mp4")
    shifted = np.roll(frames, 3, axis=2)[:10]  # 2 frames short, content moved 3 px
    write_clip(tmp_path / "shifted" / "clip.mp4", resize_frames(shifted, 72, 88))  # half size
    write_clip(tmp_path / "shifted" / "extra.mp4", frames[:2])

    def run(pred: str) -> dict:
        path = tmp_path / f"{pred}.json"
        result = runner.invoke(
            app,
            [
                "eval",
                "--pred",
                str(tmp_path / pred),
                "--real",
                str(tmp_path / "real"),
                "--metrics",
                "l1,psnr,ssim",
                "--json",
                str(path),
            ],
        )
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        return json.loads(path.read_text())

    same = run("same")["rows"][0]["metrics"]
    assert same["l1"]["value"] == 0 and same["psnr"]["value"] == 100 and same["ssim"]["value"] == 1
    report = run("shifted")
    shifted_metrics = report["rows"][0]["metrics"]
    assert shifted_metrics["l1"]["frames"] == 10
    assert shifted_metrics["psnr"]["value"] < 30 and shifted_metrics["ssim"]["value"] < 0.9
    notes = " ".join(report["notes"])
    assert (
        "10 generated vs 12 real frames" in notes
        and "resized" in notes
        and "extra: only in the pred" in notes
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--pred", "x"], "--pred and --real go together"),
        ([], "either --data"),
        (["--data", "/nonexistent-folder", "--metrics", "l1,bogus"], "unknown metric"),
        (["--data", "/nonexistent-folder", "--no-model"], "no such dataset folder"),
        (["--data", "/tmp", "--json", "out.txt"], "expected a .json file"),
    ],
)
def test_cli_errors_are_one_line(arguments, message):
    result = runner.invoke(app, ["eval", *arguments])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_eval_gives_a_landmark_model_the_datasets_stored_landmarks(sample_dataset, tiny_landmark_config):
    """The sample dataset is made by `tiw preprocess`: its landmarks come back in pixels at the
    model's size, and a landmark-prior model is encoded and driven with them (no detector run)."""

    from tiwcli.dataset.layout import list_clips, stored_landmarks
    from tiwcli.evaluation.baselines import DrivingFrames
    from tiwcli.evaluation.protocols import ModelMethod

    clip = list_clips(sample_dataset, "test")[0]
    frames = resize_frames(read_all_frames(clip), 64, 64)
    stored = stored_landmarks(clip, len(frames), 64)
    assert stored is not None and len(stored) == len(frames)
    known = [points for points in stored if points is not None]
    assert known and all(
        points.shape == (68, 2) and (points > -8).all() and (points < 72).all() for points in known
    )
    config = tiny_landmark_config
    torch.manual_seed(0)

    def no_detector():
        raise AssertionError("the stored landmarks should have been used")

    method = ModelMethod(ImplicitWarping(config).eval(), no_detector)
    method.prepare(frames[:2], np.array([0, 1]), stored[:2])
    assert method.encoding.landmarks is not None and method.encoding.landmarks.shape == (1, 2, 68, 2)
    outputs = method.render(DrivingFrames(frames[2:4], np.array([2, 3]), stored[2:4]))
    assert outputs.shape == (2, 64, 64, 3)
