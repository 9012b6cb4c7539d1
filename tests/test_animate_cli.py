"""`tiw animate` end to end on a real face clip with an untrained tiny checkpoint, and every bad input."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from tiwcli.checkpoint import save_model
from tiwcli.cli import app
from tiwcli.errors import InputError
from tiwcli.io.video import VideoReader, VideoWriter, probe_video
from tiwcli.models import ImplicitWarping
from tiwcli.samples import sample_file

CLIP_FRAMES = 12


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("animate")


@pytest.fixture(scope="module")
def weights(tiny_weights) -> Path:
    return tiny_weights


@pytest.fixture(scope="module")
def clip(workdir, wolfgang) -> Path:
    """The first frames of a real face clip (640x360, 23.976 fps), with its audio."""
    path = workdir / "driving.mp4"
    with VideoReader(wolfgang) as reader, VideoWriter(path, reader.info.fps, audio_from=wolfgang) as writer:
        for index, frame in enumerate(reader.frames()):
            if index == CLIP_FRAMES:
                break
            writer.write(frame)
    return path


def run(*args: object):
    result = CliRunner().invoke(app, ["animate", *map(str, args)])
    assert "Traceback" not in result.output, result.output
    return result


def leftovers(folder: Path) -> list[Path]:
    return sorted(folder.glob("*partial*")) + sorted(folder.glob(".*partial*"))


def video_streams(path: Path) -> dict[str, str]:
    with av.open(str(path)) as container:
        return {stream.type: stream.codec_context.name for stream in container.streams}


def test_animates_a_real_clip_with_audio_and_preview(tmp_path, weights, clip, face_photo):
    output = tmp_path / "out.mp4"
    result = run(face_photo, clip, "-o", output, "--weights", weights, "--preview", "--batch-size", 5)
    assert result.exit_code == 0, result.output
    info = probe_video(output)
    assert info.num_frames == CLIP_FRAMES
    assert info.fps == Fraction(24000, 1001)
    assert (info.width, info.height) == (572, 562)  # the 572x563 photo, pasted back (even height)
    assert info.has_audio
    assert video_streams(output) == {"video": "h264", "audio": "aac"}
    preview = probe_video(tmp_path / "out.preview.mp4")
    assert preview.num_frames == CLIP_FRAMES
    assert (preview.width, preview.height) == (3 * 256, 256)  # source | driving | result
    assert f"{CLIP_FRAMES} frames" in result.stdout
    assert leftovers(tmp_path) == []


def test_no_paste_back_writes_the_crop(tmp_path, weights, clip, face_photo):
    output = tmp_path / "crop.mp4"
    result = run(face_photo, clip, "-o", output, "--weights", weights, "--no-paste-back", "--find-best-frame")
    assert result.exit_code == 0, result.output
    info = probe_video(output)
    assert (info.width, info.height, info.num_frames) == (64, 64, CLIP_FRAMES)


@pytest.mark.parametrize(
    ("option", "value", "bad"),
    [
        ("--mouth-reference", "frame", "open"),  # "closed" is the default; "frame" is FOMM's relative motion
        (
            "--mouth-interior",
            "warp",
            "teeth",
        ),  # "driver" is the default (tests/inference/test_mouth_interior)
        ("--source-mouth", "closed", "open"),  # tests/inference/test_animator.py
        ("--mouth-scale", "1.5", "lots"),  # the range: tests/inference/test_animator.py
    ],
)
def test_landmark_options_run_a_landmark_model(
    tmp_path, tiny_landmark_config, clip, face_photo, option, value, bad
):
    """A landmark model runs with the option's non-default value; a value it does not know is exit 2,
    the option named."""
    torch.manual_seed(0)
    landmark_weights = tmp_path / "landmark.safetensors"
    save_model(landmark_weights, ImplicitWarping(tiny_landmark_config))
    output = tmp_path / f"{value}.mp4"
    args = ["--weights", landmark_weights, "--no-paste-back", option, value]
    result = run(face_photo, clip, "-o", output, *args)
    assert result.exit_code == 0, result.output
    assert probe_video(output).num_frames == CLIP_FRAMES
    result = run(face_photo, clip, "-o", tmp_path / "bad.mp4", *args[:-1], bad)
    assert result.exit_code == 2 and option in result.output and not (tmp_path / "bad.mp4").exists()


@pytest.mark.parametrize("detect_every", ["1", "8"])
def test_verbose_prints_the_time_split(tmp_path, weights, clip, face_photo, detect_every):
    output = tmp_path / "split.mp4"
    result = run(
        face_photo, clip, "-o", output, "--weights", weights, "--verbose", "--threads", "1",
        "--detect-every", detect_every,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    split = next(line for line in result.output.splitlines() if line.startswith("time split, ms/frame:"))
    for stage in ("decode", "faces", "crop", "model", "paste", "encode"):
        assert f" {stage} " in split
    assert "torch threads 1" in result.output and "load average" in result.output


def test_source_video_absolute_mode_without_crop(tmp_path, weights, clip, carphone):
    output = tmp_path / "video_sources.mp4"
    args = ["--weights", weights, "--num-sources", 2, "--mode", "absolute", "--no-crop", "--device", "cpu"]
    result = run(carphone, clip, "-o", output, *args)
    assert result.exit_code == 0, result.output
    assert "source frames 0, " in result.stdout
    assert probe_video(output).num_frames == CLIP_FRAMES


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, InputError], ids=["ctrl-c", "error"])
def test_failure_mid_video_leaves_no_output(tmp_path, weights, clip, face_photo, monkeypatch, interruption):
    calls = []
    original = ImplicitWarping.animate

    def failing_animate(self, encoding, keypoints):
        calls.append(1)
        if len(calls) == 2:
            raise interruption("stopped mid-video")
        return original(self, encoding, keypoints)

    monkeypatch.setattr(ImplicitWarping, "animate", failing_animate)
    output = tmp_path / "out.mp4"
    result = run(face_photo, clip, "-o", output, "--weights", weights, "--preview", "--batch-size", 4)
    assert result.exit_code == (130 if interruption is KeyboardInterrupt else 2)
    assert len(calls) == 2
    assert not output.exists()
    assert not (tmp_path / "out.preview.mp4").exists()
    assert leftovers(tmp_path) == []


def make_gray(path: Path, face_photo: Path) -> Path:
    Image.open(face_photo).convert("L").save(path)
    return path


def make_16_bit(path: Path, face_photo: Path) -> Path:
    gray = np.asarray(Image.open(face_photo).convert("L"), dtype=np.uint16) * 257
    Image.fromarray(gray).save(path)  # uint16 -> mode I;16
    assert Image.open(path).mode == "I;16"
    return path


@pytest.mark.parametrize(
    ("name", "crop"),
    [("gray.jpg", True), ("16bit.png", True), ("Image_with_alpha.png", True), ("BWPictureHuman.jpg", False)],
)
def test_unusual_source_images_work(tmp_path, weights, clip, face_photo, name, crop):
    if name == "gray.jpg":
        source = make_gray(tmp_path / name, face_photo)
    elif name == "16bit.png":
        source = make_16_bit(tmp_path / name, face_photo)
    else:
        source = sample_file(name)  # an RGBA portrait; a grayscale photo whose face is in profile
    output = tmp_path / "out.mp4"
    result = run(source, clip, "-o", output, "--weights", weights, "--crop" if crop else "--no-crop")
    assert result.exit_code == 0, result.output
    assert probe_video(output).num_frames == CLIP_FRAMES


# ---------------------------------------------------------------------------------------------
# Bad inputs: one line, a non-zero exit, no traceback, no output file


def write_wav(path: Path) -> Path:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    return path


def write_frameless_video(path: Path) -> Path:
    container = av.open(str(path), mode="w")
    stream = container.add_stream("mpeg4", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
    container.start_encoding()
    container.close()
    return path


def bad_case(name: str, folder: Path, clip: Path, face_photo: Path, weights: Path) -> tuple[list, str]:
    """(tiw animate arguments before -o, expected words in the error) for one kind of bad input."""
    out = folder / "out.mp4"
    plain = ["--weights", weights]
    if name == "missing source":
        return [folder / "nope.jpg", clip, "-o", out, *plain], "no such file"
    if name == "missing driving":
        return [face_photo, folder / "nope.mp4", "-o", out, *plain], "no such file"
    if name == "unreadable source":
        (folder / "text.jpg").write_text("not an image")
        return [folder / "text.jpg", clip, "-o", out, *plain], "not a readable image"
    if name == "audio-only driving":
        return [face_photo, write_wav(folder / "sound.wav"), "-o", out, *plain], "no video stream"
    if name == "image as driving":
        return [face_photo, face_photo, "-o", out, *plain], "must be a video"
    if name == "zero frames":
        return [face_photo, write_frameless_video(folder / "empty.avi"), "-o", out, *plain], "no frames"
    if name == "truncated video":
        (folder / "cut.mp4").write_bytes(clip.read_bytes()[:2048])
        return [face_photo, folder / "cut.mp4", "-o", out, *plain], "not a readable video"
    if name == "random bytes video":
        (folder / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
        return [face_photo, folder / "noise.mp4", "-o", out, *plain], "not a readable video"
    if name == "huge source":
        Image.new("L", (8000, 7000), 128).save(folder / "huge.png")
        return [folder / "huge.png", clip, "-o", out, *plain], "megapixel"
    if name == "source without a face":
        return [sample_file("free-mountain-vector-01.jpg"), clip, "-o", out, *plain], "no face"
    if name == "driving without a face":
        no_face = folder / "no_face.mp4"
        with (
            VideoReader(sample_file("no_face.mp4")) as reader,
            VideoWriter(no_face, reader.info.fps) as writer,
        ):
            writer.write_batch(next(reader.batches(4)))
        return [face_photo, no_face, "-o", out, *plain], "no face found in any frame"
    if name == "images and a video as sources":
        return [face_photo, clip, clip, "-o", out, *plain], "not a mix"
    if name == "output exists":
        out.write_bytes(b"keep me")
        return [face_photo, clip, "-o", out, *plain], "--overwrite"
    if name == "output folder missing":
        return [face_photo, clip, "-o", folder / "missing" / "out.mp4", *plain], "folder does not exist"
    if name == "output not a video":
        return [face_photo, clip, "-o", folder / "out.gif", *plain], "must be a video"
    if name == "weights missing":
        return [face_photo, clip, "-o", out, "--weights", folder / "none.safetensors"], "no such weights"
    if name == "weights corrupt":
        (folder / "bad.safetensors").write_bytes(b"\x00" * 100)
        return [face_photo, clip, "-o", out, "--weights", folder / "bad.safetensors"], "safetensors"
    if name == "default weights missing":
        return [face_photo, clip, "-o", out], "shipped default"
    if name == "$TIW_WEIGHTS missing":
        return [face_photo, clip, "-o", out], "$TIW_WEIGHTS names"
    raise AssertionError(name)


BAD_CASES = [
    "missing source",
    "missing driving",
    "unreadable source",
    "audio-only driving",
    "image as driving",
    "zero frames",
    "truncated video",
    "random bytes video",
    "huge source",
    "source without a face",
    "driving without a face",
    "images and a video as sources",
    "output exists",
    "output folder missing",
    "output not a video",
    "weights missing",
    "weights corrupt",
    "default weights missing",
    "$TIW_WEIGHTS missing",
]


@pytest.mark.parametrize("name", BAD_CASES)
def test_bad_input_is_one_clean_line(tmp_path, weights, clip, face_photo, monkeypatch, name):
    if name == "$TIW_WEIGHTS missing":
        monkeypatch.setenv("TIW_WEIGHTS", str(tmp_path / "no-default.safetensors"))
    else:  # whether or not weights/ holds the shipped file
        monkeypatch.setattr("tiwcli.checkpoint.shipped_weights_dirs", lambda: [tmp_path / "no-weights"])
        monkeypatch.delenv("TIW_WEIGHTS", raising=False)
    args, expected = bad_case(name, tmp_path, clip, face_photo, weights)
    before = sorted(path.name for path in tmp_path.iterdir())
    result = run(*args)
    assert result.exit_code in (2, 3), result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert expected in lines[0], lines[0]
    assert sorted(path.name for path in tmp_path.iterdir()) == before  # nothing written
    if name == "output exists":
        assert (tmp_path / "out.mp4").read_bytes() == b"keep me"


@pytest.mark.parametrize("case", ["driving", "source video", "hard link", "symlink", "relative path"])
def test_overwrite_never_replaces_an_input(tmp_path, weights, clip, monkeypatch, case):
    """D2: `-o` naming an input (directly, by another spelling, a hard link or a symlink) is refused
    even with --overwrite: exit 2, one line, the input byte for byte as it was."""
    import os
    import shutil

    driving = tmp_path / "drv.mp4"
    shutil.copy(clip, driving)
    source = tmp_path / "src.mp4"
    shutil.copy(clip, source)
    output = {"driving": driving, "source video": source}.get(case, tmp_path / "out.mp4")
    if case == "hard link":
        os.link(driving, output)
    elif case == "symlink":
        output.symlink_to(driving)
    elif case == "relative path":
        monkeypatch.chdir(tmp_path)
        output = Path("sub/../drv.mp4")
        (tmp_path / "sub").mkdir()
    before = {path: path.read_bytes() for path in (driving, source)}
    result = run(source, driving, "-o", output, "--overwrite", "--weights", weights, "--no-crop")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "is also an input" in lines[0], result.stderr
    assert {path: path.read_bytes() for path in before} == before


# a phone-like variable frame rate: 1 s at 50 fps, then 1 s at about 6.7 fps
VFR_TIMES = [index / 50 for index in range(50)] + [1 + index * 0.15 for index in range(7)]


def make_vfr_clip(path: Path, wolfgang: Path) -> Path:
    """Real face frames at VFR_TIMES (a 1/1000 s time base) with 2 s of AAC audio."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=50)
        video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
        video.codec_context.time_base = Fraction(1, 1000)
        audio = container.add_stream("aac", rate=16000)
        audio.layout = "mono"
        with VideoReader(wolfgang) as reader:
            for seconds, image in zip(VFR_TIMES, reader.frames(), strict=False):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[::2, ::2]), format="rgb24")
                frame.pts, frame.time_base = round(seconds * 1000), Fraction(1, 1000)
                for packet in video.encode(frame):
                    container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        for start in range(0, 32000, 1024):
            tone = np.sin(np.arange(start, start + 1024) / 16000 * 2 * np.pi * 440).astype(np.float32)
            samples = av.AudioFrame.from_ndarray(tone[None], format="fltp", layout="mono")
            samples.sample_rate, samples.pts = 16000, start
            for packet in audio.encode(samples):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return path


def stream_times(path: Path) -> tuple[list[float], float]:
    """The video frames' times in seconds, and the audio's end in seconds."""
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        times = sorted(
            float(packet.pts * video.time_base) for packet in container.demux(video) if packet.size
        )
        container.seek(0)
        ends = [float((p.pts + p.duration) * audio.time_base) for p in container.demux(audio) if p.size]
    return times, max(ends)


def test_variable_frame_rate_keeps_its_timing_and_audio(tmp_path, weights, face_photo, wolfgang):
    """D1: a 2 s VFR driving clip comes out 2 s long, each frame at its driving frame's time, with
    all its audio (before: 57 frames at the average rate, 1.0 s shorter... and the audio cut)."""
    driving = make_vfr_clip(tmp_path / "vfr.mp4", wolfgang)
    out = tmp_path / "out.mp4"
    result = run(face_photo, driving, "-o", out, "--weights", weights, "--no-crop")
    assert result.exit_code == 0, result.output
    times, audio_end = stream_times(out)
    assert len(times) == len(VFR_TIMES)
    assert np.allclose(np.array(times) - times[0], VFR_TIMES, atol=0.002), times
    assert audio_end > 1.9, audio_end
    assert "2.0 s at" in result.stdout or "2.1 s at" in result.stdout, result.stdout
