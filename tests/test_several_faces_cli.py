"""`tiw animate` as a new user types it (no -o), `tiw train --data DIR` (no --out), and the new modes'
command lines: --faces, --driving-per-face, --edit, --audio, the motion controls; and their bad input."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from tiwcli.cli import app
from tiwcli.io.video import VideoReader, VideoWriter, probe_video
from tiwcli.samples import sample_file


def run(*args: object):
    result = CliRunner().invoke(app, [*map(str, args)])
    assert "Traceback" not in result.output, result.output
    return result


def cut(source: Path, path: Path, frames: int, step: int = 1) -> Path:
    """The first `frames * step` frames of a real clip, every `step`-th, with its audio."""
    with VideoReader(source) as reader, VideoWriter(path, reader.info.fps, audio_from=source) as writer:
        for index, frame in enumerate(reader.frames()):
            if index == frames * step:
                break
            if index % step == 0:
                writer.write(frame)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory, wolfgang) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {
        "driving": cut(wolfgang, folder / "drive.mp4", 4),
        "other": cut(wolfgang, folder / "other.mp4", 3),
        "talking": cut(sample_file("single_face.mp4"), folder / "talking.mp4", 6, 2),
    }


def test_animate_without_o_writes_source__driving_here_and_never_replaces(
    tmp_path, monkeypatch, clips, face_photo, tiny_weights
):
    monkeypatch.chdir(tmp_path)
    first = run("animate", face_photo, clips["driving"], "--weights", tiny_weights)
    assert first.exit_code == 0, first.output
    expected = tmp_path / f"{face_photo.stem}--drive.mp4"
    assert expected.exists() and f"wrote {expected.name}" in first.output.replace(str(tmp_path) + "/", "")
    before = expected.read_bytes()
    second = run("animate", face_photo, clips["driving"], "--weights", tiny_weights)
    assert second.exit_code == 0, second.output
    assert (tmp_path / f"{face_photo.stem}--drive.1.mp4").exists() and expected.read_bytes() == before
    assert f"{face_photo.stem}--drive.1.mp4" in second.output


def test_train_without_out_makes_a_dated_run_folder(tmp_path, monkeypatch, sample_dataset):
    monkeypatch.chdir(tmp_path)
    result = run(
        "train",
        "--no-progress",
        "--data",
        sample_dataset,
        "--preset",
        "tiny",
        "--steps",
        1,
        "--batch-size",
        1,
    )
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "runs").iterdir()
    assert f"training into runs/{folder.name}" in result.output
    assert f"trained to step 1: runs/{folder.name}/" in result.output
    resumed = run("train", "--no-progress", "--data", sample_dataset, "--resume")
    assert resumed.exit_code == 2 and "--resume needs --out" in resumed.output


def test_all_faces_of_a_group_photo(tmp_path, group_photo, clips):
    out = tmp_path / "group.mp4"
    result = run("animate", group_photo, clips["driving"], "--faces", "all", "-o", out)
    assert result.exit_code == 0, result.output
    assert "6 faces" in result.output
    info = probe_video(out)
    assert (info.width, info.height, info.num_frames) == (1280, 886, 4)


def test_each_face_its_own_driving_video(tmp_path, group_photo, clips):
    out = tmp_path / "pair.mp4"
    result = run(
        "animate",
        group_photo,
        clips["driving"],
        clips["other"],
        "--driving-per-face",
        "--faces",
        "2,5",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    assert probe_video(out).num_frames == 4  # the first driver sets the length


def test_edit_a_talking_head_keeps_its_length_rate_and_audio(tmp_path, clips):
    out = tmp_path / "edited.mp4"
    result = run("animate", clips["talking"], clips["driving"], "--edit", "-o", out)
    assert result.exit_code == 0, result.output
    source, edited = probe_video(clips["talking"]), probe_video(out)
    assert edited.num_frames == source.num_frames and edited.fps == source.fps
    assert edited.has_audio and "edited 6 frames" in result.output
    with av.open(str(out)) as container:
        assert container.streams.audio[0].duration is not None
    driving_audio = tmp_path / "driving-audio.mp4"
    result = run(
        "animate", clips["talking"], clips["driving"], "--edit", "--audio", "driving", "-o", driving_audio
    )
    assert result.exit_code == 0, result.output
    assert probe_video(driving_audio).has_audio


def test_motion_controls_run_from_the_command_line(tmp_path, face_photo, clips):
    out = tmp_path / "controls.mp4"
    result = run(
        "animate", face_photo, clips["driving"], "--motion", "expression", "--expression-scale", 1.5,
        "--no-eyes", "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert probe_video(out).num_frames == 4


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["{multi}", "{driving}", "--faces", "7"], "has 4 faces (numbered 1 to 4 from the left)"),
        (["{multi}", "{driving}", "--faces", "two"], "--faces: expected all, largest or face numbers"),
        (["{group}", "{driving}", "{other}", "--driving-per-face", "--faces", "1,2,3"], "3 faces chosen in"),
        (["{face}", "{group}", "{driving}", "--faces", "all"], "ONE source photo"),
        (["{face}", "{driving}", "--edit"], "--edit needs ONE source video to edit, not a photo"),
        (["{face}", "{driving}", "--audio", "source"], "--audio source needs --edit"),
        (["{talking}", "{driving}", "--edit", "--motion", "pose"], "--motion pose would change nothing"),
        (["{face}", "{driving}", "--motion", "pose", "--mode", "absolute"], "need --mode relative"),
        (["{face}", "{driving}", "--expression-scale", "9"], "--expression-scale"),
    ],
    ids=["face-7-of-3", "faces-word", "per-face-count", "faces-two-photos", "edit-photo", "audio-no-edit",
         "edit-pose", "controls-absolute", "scale-range"],
)  # fmt: skip
def test_bad_input_is_one_line(tmp_path, clips, face_photo, group_photo, arguments, message):
    paths = {
        "multi": sample_file("multi_face.jpg"), "group": group_photo, "face": face_photo,
        "driving": clips["driving"], "other": clips["other"], "talking": clips["talking"],
    }  # fmt: skip
    out = tmp_path / "bad.mp4"
    result = run("animate", *[a.format(**paths) for a in arguments], "-o", out)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))


def test_edit_says_how_many_frames_had_no_face(tmp_path, clips):
    """A source video whose face leaves the frame: those frames pass through, and the summary counts them."""
    source = cut(sample_file("face_noface.mov"), tmp_path / "face-then-cartoon.mp4", 19, 6)
    out = tmp_path / "edited.mp4"
    result = run("animate", source, clips["driving"], "--edit", "-o", out)
    assert result.exit_code == 0, result.output
    assert probe_video(out).num_frames == 19
    edited = int(result.output.split("edited ")[1].split()[0])
    passed = int(result.output.split(" frames without a face passed through unchanged")[0].split()[-1])
    assert edited > 0 and passed > 0 and edited + passed == 19
