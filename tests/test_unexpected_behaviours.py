"""Issue 24's "behaviours a user would not expect", each decided and checked on real files made the
way the probe made them: a killed run's temporaries, animated and suffix-less images, one corrupt
packet, absurd counts, a symlink loop, a truncated newest checkpoint, a landmark preset without
landmarks, two `tiw preprocess` runs into one folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tiwcli.cli import app
from tiwcli.io.images import is_image_path
from tiwcli.io.video import VideoReader, VideoWriter, read_all_frames

CLIP_FRAMES = 6


def run(*args: object):
    result = CliRunner().invoke(app, list(map(str, args)))
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("unexpected")


@pytest.fixture(scope="module")
def weights(tiny_weights) -> Path:
    return tiny_weights


@pytest.fixture(scope="module")
def clip(workdir, carphone) -> Path:
    """The first frames of a real face clip (176x144)."""
    path = workdir / "driving.mp4"
    with VideoWriter(path, 25) as writer:
        writer.write_batch(read_all_frames(carphone, CLIP_FRAMES))
    return path


def animate(tmp_path: Path, source: Path, clip: Path, weights: Path, *extra: object):
    return run("animate", source, clip, "-o", tmp_path / "out.mp4", "--weights", weights, *extra)


# -- a run killed with SIGKILL leaves its temporary; the next run into that folder removes it ------

KILLED_WRITER = """
import os, signal, sys
import numpy as np
from tiwcli.io.video import VideoWriter
writer = VideoWriter(sys.argv[1], 25).__enter__()
for _ in range(30):
    writer.write(np.zeros((64, 64, 3), np.uint8))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_temporaries_of_a_killed_run_are_removed_by_the_next(tmp_path, capfd):
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path / "out.mp4")], check=False)
    left = sorted(tmp_path.glob(".tiw-*.partial.mp4"))
    assert len(left) == 1 and left[0].stat().st_size > 0  # what SIGKILL leaves
    running = tmp_path / f".tiw-{os.getpid()}-0123abcd.partial.mp4"  # a run still writing
    running.write_bytes(b"in progress")
    old_style = tmp_path / ".out.partial-999999999.mp4"  # the name before 0.x; that PID cannot run
    old_style.write_bytes(b"left")
    with VideoWriter(tmp_path / "second.mp4", 25) as writer:
        writer.write(np.zeros((64, 64, 3), np.uint8))
    assert not left[0].exists() and not old_style.exists()
    assert running.exists()  # never another live process's file
    assert "removed 2 unfinished temporary file(s)" in capfd.readouterr().err


# -- one undecodable packet among many is skipped with a note ------------------------------------


def corrupt_one_packet(clip: Path, path: Path, index: int = 3) -> Path:
    """`clip` with the data of packet `index` replaced by random bytes (its size and times kept)."""
    rng = np.random.default_rng(0)
    with av.open(str(clip)) as source, av.open(str(path), "w") as target:
        stream = source.streams.video[0]
        out_stream = target.add_stream_from_template(stream)
        for number, packet in enumerate(source.demux(stream)):
            if packet.dts is None:
                continue
            if number == index:
                data = bytes(packet)
                noise = rng.integers(0, 256, len(data) - 4, dtype=np.uint8).tobytes()
                broken = av.Packet(data[:4] + noise)
                broken.pts, broken.dts, broken.time_base = packet.pts, packet.dts, packet.time_base
                broken.is_keyframe = packet.is_keyframe
                packet = broken
            packet.stream = out_stream
            target.mux(packet)
    return path


def test_one_undecodable_packet_is_skipped_with_a_note(tmp_path, carphone, weights, face_photo, capfd):
    good = tmp_path / "good.mp4"
    with VideoWriter(good, 25) as writer:
        writer.write_batch(read_all_frames(carphone, 24))
    broken = corrupt_one_packet(good, tmp_path / "broken.mp4", index=12)
    assert len(read_all_frames(broken)) == 23
    assert "skipped 1 undecodable packet" in capfd.readouterr().err
    result = animate(tmp_path, face_photo, broken, weights)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.stdout


def test_mostly_corrupt_video_is_still_an_error(tmp_path, clip):
    broken = tmp_path / "noise.mp4"
    with av.open(str(clip)) as source, av.open(str(broken), "w") as target:
        stream = source.streams.video[0]
        out_stream = target.add_stream_from_template(stream)
        for packet in source.demux(stream):
            if packet.dts is None:
                continue
            noise = av.Packet(bytes(packet)[:4] + os.urandom(max(packet.size - 4, 8)))
            noise.pts, noise.dts, noise.time_base = packet.pts, packet.dts, packet.time_base
            noise.stream = out_stream
            target.mux(noise)
    with pytest.raises(Exception, match=r"corrupt video data|no frames"):
        with VideoReader(broken) as reader:
            list(reader.frames())


# -- images: chosen by content, animated ones the same for GIF and WebP ---------------------------


@pytest.mark.parametrize("name", ["photo", "photo.jfif", "photo.JPG.bak"])
def test_a_jpeg_without_its_suffix_is_an_image(tmp_path, name, face_photo, clip, weights):
    source = tmp_path / name
    shutil.copyfile(face_photo, source)
    assert is_image_path(source)
    result = animate(tmp_path, source, clip, weights)
    assert result.exit_code == 0, result.output
    assert "1 source image" in result.stdout


def test_a_video_named_jpg_is_a_video(clip, tmp_path):
    disguised = tmp_path / "clip.jpg"
    shutil.copyfile(clip, disguised)
    assert not is_image_path(disguised)


def make_animated(path: Path, face_photo: Path) -> Path:
    """Three frames of the photo, shifted a little each (an animated GIF or WebP)."""
    photo = Image.open(face_photo).convert("RGB")
    frames = [photo.transform(photo.size, Image.Transform.AFFINE, (1, 0, 4 * i, 0, 1, 0)) for i in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_an_animated_image_source_is_its_first_frame_with_a_note(tmp_path, suffix, face_photo, clip, weights):
    source = make_animated(tmp_path / f"animated{suffix}", face_photo)
    assert Image.open(source).n_frames == 3
    result = animate(tmp_path, source, clip, weights)
    assert result.exit_code == 0, result.output
    assert "1 source image" in result.stdout  # not "source frames ...": the same for both formats
    assert "an animated image of 3 frames; its first frame is the source" in result.output


# -- absurd numbers, empty lists, NaN ------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--batch-size", "100000"], "less than or equal to 256"),
        (["--sources-from-video", str(10**12)], "less than or equal to 64"),
    ],
)
def test_absurd_counts_are_refused_before_any_work(arguments, message, face_photo, clip, tmp_path):
    result = run("animate", face_photo, clip, "-o", tmp_path / "o.mp4", *arguments)
    assert result.exit_code == 2 and message in " ".join(result.output.replace("│", " ").split())
    assert list(tmp_path.iterdir()) == []


def test_the_caps_are_in_the_help():
    text = run("animate", "--help").output
    assert "1<=x<=256" in text and "1<=x<=64" in text


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--camera-size", "99xyz"], "expected WIDTHxHEIGHT"),
        (["--max-seconds", "nan"], "--max-seconds must be a number of seconds above 0"),
        (["--max-seconds", "inf"], "--max-seconds must be a number of seconds above 0"),
        (["--anchor-after", "nan"], "--anchor-after must be 0 or more"),
    ],
)
def test_live_refuses_malformed_values(arguments, message, face_photo, clip, tmp_path):
    result = run("live", face_photo, "--camera", clip, "-o", tmp_path / "o.mp4", *arguments)
    assert result.exit_code == 2 and message in result.output, result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("presets", ["", " , "])
def test_bench_refuses_an_empty_preset_list(presets):
    result = run("bench", "--presets", presets)
    assert result.exit_code == 2 and "--presets: expected preset names" in result.output


# -- a symlink loop is named as such --------------------------------------------------------------


def test_a_symlink_loop_is_reported_as_one(tmp_path, face_photo, clip, weights):
    (tmp_path / "a.jpg").symlink_to(tmp_path / "b.jpg")
    (tmp_path / "b.jpg").symlink_to(tmp_path / "a.jpg")
    for arguments in (
        [tmp_path / "a.jpg", clip, "-o", tmp_path / "o.mp4"],
        [face_photo, tmp_path / "a.jpg", "-o", tmp_path / "o.mp4"],
        [face_photo, clip, "-o", tmp_path / "o.mp4", "--weights", tmp_path / "a.jpg"],
        [face_photo, clip, "-o", tmp_path / "a.jpg.mp4", "--weights", weights],
    ):
        if arguments[3].name == "a.jpg.mp4":
            (tmp_path / "a.jpg.mp4").symlink_to(tmp_path / "a.jpg.mp4")
        result = run("animate", *arguments)
        assert result.exit_code == 2, result.output
        assert "symbolic link loop" in result.output, result.output


# -- training ------------------------------------------------------------------------------------


def train(*arguments: object):
    return run("train", "--no-progress", *arguments)


def test_resume_falls_back_from_a_truncated_newest_checkpoint(sample_dataset, tmp_path):
    run_dir = tmp_path / "run"
    first = train(
        "--data", sample_dataset, "--out", run_dir, "--preset", "tiny", "--steps", 4,
        "--batch-size", 2, "--checkpoint-every", 2, "--keep", 2,
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    newest = run_dir / "checkpoints" / "step_00000004.state.safetensors"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # a copy cut short
    resumed = train("--data", sample_dataset, "--out", run_dir, "--resume", "--steps", 5)
    assert resumed.exit_code == 0, resumed.output
    assert "the checkpoint of step 4 cannot be read" in resumed.output
    assert "going on from step 2" in resumed.output and "trained to step 5" in resumed.output
    assert (run_dir / "checkpoints" / "step_00000004.state.safetensors.unreadable").exists()


def test_the_landmark_preset_refuses_clips_without_landmarks(sample_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(sample_dataset, data)
    for path in data.rglob("*.landmarks.npy"):
        path.unlink()
    result = train("--data", data, "--out", tmp_path / "run", "--steps", 1, "--batch-size", 1)
    assert result.exit_code == 2, result.output
    assert "no train clip has its .landmarks.npy" in result.output
    assert not (tmp_path / "run").exists()


def test_two_preprocess_runs_into_one_folder_keep_both_updates(tmp_path, carphone, wolfgang, monkeypatch):
    """Run B starts and finishes while run A is between reading the manifest and writing it."""
    from tiwcli.dataset import preprocess as module
    from tiwcli.faces.backends import load_face_analyzer

    options = module.PreprocessOptions(size=64, min_frames=8, max_input_frames=16, test_fraction=0.0)
    analyzer = load_face_analyzer("dlib")
    out_dir = tmp_path / "data"
    started = []

    def on_source(path: Path, frames: int) -> None:
        if not started:  # A is under way: B runs now, to its end
            started.append(path)
            module.preprocess([wolfgang], out_dir, options, analyzer)

    module.preprocess([carphone], out_dir, options, analyzer, on_source=on_source)
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert set(manifest["sources"]) == {str(carphone), str(wolfgang)}
    sources = {clip["source"] for clip in manifest["clips"]}
    assert sources == {str(carphone), str(wolfgang)}
    for clip in manifest["clips"]:
        assert (out_dir / clip["file"]).exists()
    assert list(out_dir.glob(".*")) == []  # no lock file, no temporary


# -- found by the fuzzing harness (tests/fuzz) ---------------------------------------------------


def test_resume_survives_a_damaged_log_line(sample_dataset, tmp_path):
    """Seed 0, case 74: random bytes after the last line of log.jsonl (a write cut off) were a
    UnicodeDecodeError traceback on --resume; the damaged line is dropped."""
    run_dir = tmp_path / "run"
    first = train(
        "--data", sample_dataset, "--out", run_dir, "--preset", "tiny", "--steps", 2,
        "--batch-size", 1, "--log-every", 1,
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    log = run_dir / "log.jsonl"
    log.write_bytes(log.read_bytes() + b'\xf4\xa4{"step": 1e309}\n')
    resumed = train("--data", sample_dataset, "--out", run_dir, "--resume", "--steps", 3)
    assert resumed.exit_code == 0, resumed.output
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == [1, 2, 3]


def test_an_empty_landmarks_file_is_ignored_like_a_broken_one(sample_dataset, tmp_path):
    """Seed 0, case 226: an empty CLIP.landmarks.npy made np.load raise EOFError, which Click turns
    into "Aborted." with exit 1; it is ignored with a warning, as other unreadable ones are."""
    data = tmp_path / "data"
    shutil.copytree(sample_dataset, data)
    next((data / "train").glob("*.landmarks.npy")).write_bytes(b"")
    result = train("--data", data, "--out", tmp_path / "run", "--preset", "tiny", "--steps", 1,
                   "--batch-size", 1)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ignoring unreadable landmarks" in result.output
