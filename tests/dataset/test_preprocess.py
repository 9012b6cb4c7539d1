"""`tiw preprocess`: face segments, splits by video, resumability, bad inputs, faces in every frame."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from tiwcli.cli import app
from tiwcli.dataset.layout import landmarks_path
from tiwcli.dataset.preprocess import (
    PreprocessOptions,
    assign_split,
    crop_landmarks,
    face_segments,
    find_videos,
    preprocess,
)
from tiwcli.errors import InputError
from tiwcli.faces.backends import load_face_analyzer
from tiwcli.faces.track import FaceTrack
from tiwcli.io.video import read_all_frames
from tiwcli.samples import sample_file


def _track(found: list[bool], centers: list[float] | None = None) -> FaceTrack:
    count = len(found)
    raw = np.tile([100.0, 100.0, 50.0], (count, 1))
    if centers is not None:
        raw[:, 0] = centers
    return FaceTrack(
        boxes=[],
        raw_boxes=raw,
        face_boxes=np.zeros((count, 4)),
        found=np.array(found),
        frame_width=200,
        frame_height=200,
    )


def test_segments_follow_the_face_and_drop_short_runs():
    found = [True] * 10 + [False] * 3 + [True] * 4 + [False] + [True] * 12
    segments = face_segments(_track(found), PreprocessOptions(min_frames=5))
    assert [(s.start, s.stop) for s in segments] == [(0, 10), (18, 30)]
    assert segments[0].boxes.shape == (10, 3)


def test_long_segments_are_split_and_jumps_cut():
    segments = face_segments(_track([True] * 25), PreprocessOptions(min_frames=6, max_frames=10))
    assert [(s.start, s.stop) for s in segments] == [(0, 10), (10, 20)]  # the 5-frame rest is too short
    centers = [100.0] * 8 + [180.0] * 8  # a jump of 80 px with a 50 px crop: a scene cut
    segments = face_segments(_track([True] * 16, centers), PreprocessOptions(min_frames=4))
    assert [(s.start, s.stop) for s in segments] == [(0, 8), (8, 16)]


def test_split_is_by_video_and_stable(tmp_path):
    options = PreprocessOptions(test_fraction=0.5, test_videos=("forced.mp4",))
    names = [f"video{index}.mp4" for index in range(200)]
    splits = [assign_split(tmp_path / name, options) for name in names]
    assert splits == [assign_split(tmp_path / "other" / name, options) for name in names]  # name only
    assert 0.35 < splits.count("test") / len(splits) < 0.65
    assert assign_split(tmp_path / "forced.mp4", options) == "test"


def test_find_videos_recurses_and_skips_the_output(tmp_path):
    (tmp_path / "raw" / "deep").mkdir(parents=True)
    for name in ("a.mp4", "deep/b.MOV", "notes.txt"):
        (tmp_path / "raw" / name).write_bytes(b"x")
    (tmp_path / "raw" / "out" / "train").mkdir(parents=True)
    (tmp_path / "raw" / "out" / "train" / "clip.mp4").write_bytes(b"x")
    found = find_videos([tmp_path / "raw"], exclude=tmp_path / "raw" / "out")
    assert sorted(p.name for p in found) == ["a.mp4", "b.MOV"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no video files found"):
        find_videos([tmp_path / "empty"])


@pytest.fixture(scope="module")
def carphone_dataset(tmp_path_factory):
    """carphone at 128 px (dlib needs faces of ~80 px to find them again), 30 frames."""
    out_dir = tmp_path_factory.mktemp("carphone_dataset")
    options = PreprocessOptions(
        size=128, min_frames=10, max_frames=15, max_input_frames=30, test_fraction=0.0
    )
    summary = preprocess([sample_file("carphone_pristine.mp4")], out_dir, options, load_face_analyzer("dlib"))
    assert summary.clips_written == 2
    return out_dir


def test_every_output_frame_holds_a_face(carphone_dataset):
    analyzer = load_face_analyzer("dlib")
    clips = sorted((carphone_dataset / "train").glob("*.mp4"))
    assert len(clips) == 2
    for clip in clips:
        frames = read_all_frames(clip)
        assert frames.shape == (15, 128, 128, 3)
        for frame in frames[::2]:
            faces = analyzer.detect(frame)
            assert faces, clip
            width = faces[0].box[2] - faces[0].box[0]
            assert 0.3 < width / 128 < 0.8  # a head crop, not a whole frame or a nose


def test_manifest_describes_clips(carphone_dataset):
    manifest = json.loads((carphone_dataset / "manifest.json").read_text())
    assert manifest["size"] == 128 and manifest["skipped"] == []
    first = manifest["clips"][0]
    assert (first["start_frame"], first["end_frame"], first["split"]) == (0, 15, "train")
    assert first["face_found_fraction"] == 1.0
    assert set(first["crop_box"]) == {"center_x", "center_y", "size"}
    assert first["end_time"] == pytest.approx(15 / 29.97, abs=1e-3)


def test_rerun_resumes_and_faceless_videos_are_skipped(carphone_dataset, tmp_path):
    out_dir = tmp_path / "dataset"
    shutil.copytree(carphone_dataset, out_dir)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00" * 100)
    options = PreprocessOptions(
        size=128, min_frames=10, max_frames=15, max_input_frames=30, test_fraction=0.0
    )
    inputs = [sample_file("carphone_pristine.mp4"), sample_file("no_face.mp4"), garbage]
    summary = preprocess(inputs, out_dir, options, load_face_analyzer("dlib"))
    assert (summary.sources_already_done, summary.sources_skipped, summary.clips_written) == (1, 2, 0)
    manifest = json.loads((out_dir / "manifest.json").read_text())
    reasons = {entry["source"].rsplit("/", 1)[-1]: entry["reason"] for entry in manifest["skipped"]}
    assert "no face" in reasons["no_face.mp4"] and "not a readable video" in reasons["garbage.mp4"]
    again = preprocess(inputs, out_dir, options, load_face_analyzer("dlib"))
    assert again.sources_already_done == 3


def test_size_change_on_rerun_is_refused(carphone_dataset):
    options = PreprocessOptions(size=64)
    with pytest.raises(InputError, match="--size 128"):
        preprocess(
            [sample_file("carphone_pristine.mp4")], carphone_dataset, options, load_face_analyzer("dlib")
        )


def test_sample_dataset_has_a_test_identity(sample_dataset):
    manifest = json.loads((sample_dataset / "manifest.json").read_text())
    test_sources = {
        clip["source"].rsplit("/", 1)[-1] for clip in manifest["clips"] if clip["split"] == "test"
    }
    assert test_sources == {"carphone_pristine.mp4"}
    assert all((sample_dataset / clip["file"]).exists() for clip in manifest["clips"])


@pytest.mark.parametrize("content", ["garbage", "empty-folder", "missing"])
def test_cli_bad_input_is_one_line(tmp_path, content):
    target = tmp_path / "input"
    if content == "garbage":
        target = tmp_path / "input.mp4"
        target.write_text("this is not a video")
    elif content == "empty-folder":
        target.mkdir()
    result = CliRunner().invoke(app, ["preprocess", str(target), str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("error")]) == 1


def test_cli_makes_a_dataset(tmp_path):
    arguments = ["preprocess", str(sample_file("carphone_pristine.mp4")), str(tmp_path / "out")]
    arguments += [
        "--size",
        "64",
        "--min-frames",
        "8",
        "--max-input-frames",
        "10",
        "--no-progress",
        "--backend",
        "dlib",
    ]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "1 clips from 1 videos" in result.output


def test_a_test_video_is_guaranteed_with_two_or_more_videos(tmp_path):
    from tiwcli.dataset.preprocess import ensure_test_split

    (tmp_path / "train").mkdir()
    manifest = {"clips": [], "sources": {}}
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / "train" / f"{name}_000.mp4").write_bytes(b"clip")
        manifest["clips"].append(
            {"file": f"train/{name}_000.mp4", "source": f"/raw/{name}", "split": "train"}
        )
        manifest["sources"][f"/raw/{name}"] = {"status": "done", "split": "train", "clips": 1}
    moved = ensure_test_split(tmp_path, manifest, PreprocessOptions(test_fraction=0.1))
    assert moved is not None
    clip = next(c for c in manifest["clips"] if c["source"] == moved)
    assert clip["split"] == "test" and (tmp_path / clip["file"]).exists()
    assert manifest["sources"][moved]["split"] == "test"
    assert (
        ensure_test_split(tmp_path, manifest, PreprocessOptions(test_fraction=0.1)) is None
    )  # already has one


def test_landmarks_are_stored_beside_each_clip_in_crop_coordinates(carphone_dataset):
    """68 dlib landmarks per frame in the crop's [-1, 1]; they land on the face found in the clip."""
    analyzer = load_face_analyzer("dlib")
    for clip in sorted((carphone_dataset / "train").glob("*.mp4")):
        landmarks = np.load(landmarks_path(clip))
        frames = read_all_frames(clip)
        assert landmarks.shape == (len(frames), 68, 2) and landmarks.dtype == np.float32
        assert np.isfinite(landmarks).all()  # carphone has a face in every frame
        found = analyzer.detect(frames[0])[0].landmarks  # (68, 2) pixels of the 128 px crop
        stored = (landmarks[0] + 1) / 2 * 128
        assert np.median(np.linalg.norm(found - stored, axis=1)) < 4  # pixels, at 128 px


def test_crop_landmarks_maps_the_box_to_minus_one_one():
    boxes = np.array([[50.0, 40.0, 20.0]])  # a 20 px square centred at (50, 40)
    points = np.array([[[40.0, 30.0], [60.0, 50.0], [50.0, 40.0], [np.nan, np.nan]]])
    mapped = crop_landmarks(points, boxes)
    assert np.allclose(mapped[0, :3], [[-1, -1], [1, 1], [0, 0]])
    assert np.isnan(mapped[0, 3]).all()


def test_landmarks_move_with_their_clip_to_test(sample_dataset, tmp_path):
    """D9: when two videos' clips all went to train, the one moved to test/ takes its
    .landmarks.npy along (before: the landmarks stayed in train/, and the test clip had none).
    Real clips and landmark files from the sample dataset."""
    import shutil

    from tiwcli.dataset.layout import landmarks_path
    from tiwcli.dataset.preprocess import ensure_test_split

    (tmp_path / "train").mkdir()
    manifest = {"clips": [], "sources": {}}
    real = sorted(path for path in sample_dataset.rglob("*.mp4") if landmarks_path(path).exists())[:2]
    assert len(real) == 2
    for index, clip in enumerate(real):
        name = f"video{index}_000.mp4"
        shutil.copy(clip, tmp_path / "train" / name)
        shutil.copy(landmarks_path(clip), landmarks_path(tmp_path / "train" / name))
        manifest["clips"].append(
            {"file": f"train/{name}", "source": f"/raw/video{index}.mp4", "split": "train"}
        )
        manifest["sources"][f"/raw/video{index}.mp4"] = {"status": "done", "split": "train", "clips": 1}
    moved = ensure_test_split(tmp_path, manifest, PreprocessOptions(test_fraction=0.1))
    assert moved is not None
    clips = {tmp_path / clip["file"] for clip in manifest["clips"]}
    assert any(clip.parent.name == "test" for clip in clips)
    for clip in clips:
        assert landmarks_path(clip).exists(), clip
    for landmarks in tmp_path.rglob("*.landmarks.npy"):
        assert landmarks.with_name(landmarks.name.replace(".landmarks.npy", ".mp4")) in clips, landmarks
