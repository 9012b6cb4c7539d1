"""Nothing half-written: a write that fails at any point (open, encode, flush, close, rename) leaves
no file under the final name and no temporary, and `tiw animate` says so in one `error:` line, exit 2.
Output folders are checked for write access before any work; SIGTERM cleans up like Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tiwcli.cli import app
from tiwcli.errors import OutputError
from tiwcli.io.video import VideoReader, VideoWriter

FRAMES = np.zeros((3, 32, 32, 3), np.uint8)


@pytest.fixture(scope="module")
def weights(tiny_weights) -> Path:
    return tiny_weights


@pytest.fixture(scope="module")
def clip(tmp_path_factory, wolfgang) -> Path:
    path = tmp_path_factory.mktemp("clip") / "driving.mp4"
    with VideoReader(wolfgang) as reader, VideoWriter(path, reader.info.fps, audio_from=wolfgang) as writer:
        writer.write_batch(next(reader.batches(8)))
    return path


@pytest.fixture
def read_only_folder(tmp_path) -> Path:
    """A folder no file can be created in, even by root (who ignores permission bits)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    candidates = [folder, Path("/sys"), Path("/proc")]
    for candidate in candidates:
        try:
            with tempfile.NamedTemporaryFile(dir=candidate):
                pass
        except OSError:
            yield candidate
            break
    else:
        pytest.skip("no unwritable folder on this machine")
    folder.chmod(0o755)


def everything_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def fail_with_full_disk(*args, **kwargs):
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("stage", ["open", "encode", "flush", "close", "rename"])
def test_writer_failure_leaves_nothing(tmp_path, monkeypatch, stage):
    import av

    target = tmp_path / "out.mp4"
    if stage == "open":
        monkeypatch.setattr(av, "open", fail_with_full_disk)
    elif stage == "encode":
        monkeypatch.setattr(av.VideoFrame, "from_ndarray", _frame_that_fails_to_mux(monkeypatch))
    elif stage == "flush":
        monkeypatch.setattr(VideoWriter, "_flush", fail_with_full_disk)
    elif stage == "close":
        original = VideoWriter._close

        def close_then_fail(self):
            original(self)
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(VideoWriter, "_close", close_then_fail)
    else:  # the final move is a hard link (or os.replace where there are none)
        monkeypatch.setattr(os, "replace", fail_with_full_disk)
        monkeypatch.setattr(os, "link", fail_with_full_disk)
    with pytest.raises(OutputError, match="No space left on device"):
        with VideoWriter(target, 25) as writer:
            writer.write_batch(FRAMES)
    assert everything_in(tmp_path) == []


def _frame_that_fails_to_mux(monkeypatch):
    """av.VideoFrame.from_ndarray, and the container's mux failing as on a full disk."""
    import av

    original = av.VideoFrame.from_ndarray

    def from_ndarray(*args, **kwargs):
        monkeypatch.setattr(VideoWriter, "_container", _FailingMux(), raising=False)
        return original(*args, **kwargs)

    return from_ndarray


class _FailingMux:
    def __get__(self, instance, owner):
        return self if instance is None else _MuxRaises(instance.__dict__["_container"])

    def __set__(self, instance, value):
        instance.__dict__["_container"] = value


class _MuxRaises:
    def __init__(self, container) -> None:
        self._container = container

    def mux(self, packet):
        raise OSError(28, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._container, name)


def test_writer_error_inside_the_block_wins_over_a_close_error(tmp_path, monkeypatch):
    monkeypatch.setattr(VideoWriter, "_close", fail_with_full_disk)
    with pytest.raises(RuntimeError, match="the real problem"):
        with VideoWriter(tmp_path / "out.mp4", 25) as writer:
            writer.write_batch(FRAMES)
            raise RuntimeError("the real problem")
    assert everything_in(tmp_path) == []


def run_animate(*args: object):
    result = CliRunner().invoke(app, ["animate", *map(str, args)])
    assert "Traceback" not in result.output, result.output
    return result


def one_error_line(result) -> str:
    """The one `error:` line, the last on stderr (progress lines may come before it in a log)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    return errors[0]


@pytest.mark.parametrize("failing", ["output", "preview"])
def test_animate_close_failure_writes_nothing(tmp_path, monkeypatch, weights, clip, face_photo, failing):
    original = VideoWriter._close

    def close(self):
        original(self)
        if (failing == "preview") == self.path.name.endswith(".preview.mp4"):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(VideoWriter, "_close", close)
    out = tmp_path / "out.mp4"
    result = run_animate(face_photo, clip, "-o", out, "--weights", weights, "--preview", "--no-paste-back")
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert "No space left on device" in line and "out" in line
    assert everything_in(tmp_path) == []


def test_animate_encode_failure_writes_nothing(tmp_path, monkeypatch, weights, clip, face_photo):
    monkeypatch.setattr(VideoWriter, "write_batch", lambda self, frames: fail_with_full_disk())
    out = tmp_path / "out.mp4"
    result = run_animate(face_photo, clip, "-o", out, "--weights", weights, "--preview")
    assert result.exit_code in (1, 2), result.output  # an OSError outside the writer: not ours to name
    assert everything_in(tmp_path) == []


def test_read_only_output_folder_is_refused_before_any_work(
    read_only_folder, monkeypatch, weights, clip, face_photo
):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the output folder was checked")

    monkeypatch.setattr("tiwcli.inference.jobs.load_model_and_faces", no_model)
    result = run_animate(face_photo, clip, "-o", read_only_folder / "out.mp4", "--weights", weights)
    assert result.exit_code == 2, result.output
    assert "cannot write there" in one_error_line(result)


def test_missing_input_is_reported_before_the_model_loads(tmp_path, monkeypatch, weights, clip):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the inputs were checked")

    monkeypatch.setattr("tiwcli.inference.jobs.load_model_and_faces", no_model)
    result = run_animate(tmp_path / "missing.jpg", clip, "-o", tmp_path / "out.mp4", "--weights", weights)
    assert result.exit_code == 2
    assert "no such file" in one_error_line(result)


def test_sigterm_leaves_no_partial_files(tmp_path, weights, wolfgang):
    """A real process, killed with SIGTERM while it writes: exit 130, nothing left in the folder."""
    out = tmp_path / "out.mp4"
    source = tmp_path / "source.png"
    with VideoReader(wolfgang) as reader:
        from PIL import Image

        Image.fromarray(next(reader.frames())).save(source)
    command = [sys.executable, "-m", "tiwcli", "animate", source, wolfgang, "-o", out]
    command += ["--weights", weights, "--no-crop", "--batch-size", "1", "--preview"]
    process = subprocess.Popen(list(map(str, command)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".*partial*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()
    time.sleep(0.3)  # a few frames into the temporary files
    os.kill(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert b"Traceback" not in stderr
    assert everything_in(tmp_path) == ["source.png"]


def _saves_a_file_meanwhile(path: Path, monkeypatch) -> None:
    """While the first frames are encoded, someone saves `path` (the user, or a second run)."""
    original = VideoWriter.write_batch

    def write_batch(self, frames):
        if not path.exists():
            path.write_bytes(b"saved meanwhile")
        original(self, frames)

    monkeypatch.setattr(VideoWriter, "write_batch", write_batch)


def test_a_file_saved_during_the_run_is_not_replaced(tmp_path, monkeypatch, weights, clip, face_photo):
    """D3: without --overwrite, a file that appears under -o while tiw works is kept; the result is
    saved as out.1.mp4 and one line (exit 2) says so."""
    out = tmp_path / "out.mp4"
    _saves_a_file_meanwhile(out, monkeypatch)
    result = run_animate(face_photo, clip, "-o", out, "--weights", weights, "--no-crop")
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert "appeared while" in line and "out.1.mp4" in line, line
    assert out.read_bytes() == b"saved meanwhile"
    assert everything_in(tmp_path) == ["out.1.mp4", "out.mp4"]
    assert VideoReader(tmp_path / "out.1.mp4").info.num_frames == 8


@pytest.mark.parametrize("hard_links", [True, False])
def test_writer_creates_the_final_name_exclusively(tmp_path, monkeypatch, hard_links):
    """D3 in the writer, with and without hard links (FAT, some network mounts): a name taken
    meanwhile is kept; with overwrite it is replaced."""
    import errno

    import tiwcli.io.files

    if not hard_links:

        def no_links(*args, **kwargs):
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(tiwcli.io.files.os, "link", no_links)
    target = tmp_path / "out.mp4"
    with VideoWriter(target, 25) as writer:  # a free name: written
        writer.write_batch(FRAMES)
    assert VideoReader(target).info.num_frames == 3
    with pytest.raises(OutputError, match=r"appeared while.*saved as late\.1\.mp4"):
        with VideoWriter(tmp_path / "late.mp4", 25) as writer:
            writer.write_batch(FRAMES)
            (tmp_path / "late.mp4").write_bytes(b"keep me")
    assert (tmp_path / "late.mp4").read_bytes() == b"keep me"
    with VideoWriter(tmp_path / "late.mp4", 25, overwrite=True) as writer:
        writer.write_batch(FRAMES)
    assert VideoReader(tmp_path / "late.mp4").info.num_frames == 3
    assert everything_in(tmp_path) == ["late.1.mp4", "late.mp4", "out.mp4"]


def test_a_long_output_name_is_written(tmp_path, weights, clip, face_photo):
    """D4: a 246-character name (and its 254-character preview) is written: the temporaries' names
    are short, whatever the output's (before: a traceback after all the work)."""
    out = tmp_path / ("o" * 242 + ".mp4")
    result = run_animate(face_photo, clip, "-o", out, "--weights", weights, "--no-crop", "--preview")
    assert result.exit_code == 0, result.output
    assert everything_in(tmp_path) == sorted([out.name, "o" * 242 + ".preview.mp4"])


def test_a_too_long_output_name_is_refused_before_any_work(tmp_path, monkeypatch, weights, clip, face_photo):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the output name was checked")

    monkeypatch.setattr("tiwcli.inference.jobs.load_model_and_faces", no_model)
    out = tmp_path / ("o" * 252 + ".mp4")
    result = run_animate(face_photo, clip, "-o", out, "--weights", weights, "--overwrite")
    assert result.exit_code == 2, result.output
    assert "file name is 256 bytes, over this folder's limit of 255" in one_error_line(result)
    assert everything_in(tmp_path) == []
