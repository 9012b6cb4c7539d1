"""Fixtures of the `tiw app` tests: short real inputs, and the app running in a subprocess.

The app runs the shipped weights (the default) on an 8-frame real clip, so a job takes seconds.
Gradio is imported only by the tests that need it (each skips with a reason without it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tiwcli.io.video import VideoReader, VideoWriter

REPO = Path(__file__).resolve().parents[2]
CLIP_FRAMES = 8
START_SECONDS = 180  # importing gradio and torch on a busy 2-core machine


@pytest.fixture(scope="session")
def app_inputs(tmp_path_factory, carphone) -> Path:
    """A folder of inputs: clip.mp4 (the first 8 frames of carphone), grey.jpg (a flat grey photo,
    no face), not-a-photo.jpg (a text file)."""
    folder = tmp_path_factory.mktemp("app_inputs")
    with VideoReader(carphone) as reader, VideoWriter(folder / "clip.mp4", reader.info.fps) as writer:
        for index, frame in enumerate(reader.frames()):
            if index == CLIP_FRAMES:
                break
            writer.write(frame)
    Image.fromarray(np.full((256, 256, 3), 128, np.uint8)).save(folder / "grey.jpg")
    (folder / "not-a-photo.jpg").write_text("these are notes, not a photo\n")
    return folder


def frames_in(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.fixture(scope="session")
def count_frames():
    """How many frames a video file holds (decoded, not the container's claim)."""
    return frames_in


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(tmp_path_factory) -> Iterator[str]:
    """`tiw app` on a free port, as a user starts it; stopped (SIGTERM) after the session."""
    pytest.importorskip("gradio", reason='tiw app needs Gradio: pip install -e ".[app]"')
    port = free_port()
    log_path = tmp_path_factory.mktemp("app_server") / "server.log"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(log_path.parent / "gradio"),
    }
    command = [sys.executable, "-m", "tiwcli", "app", "--port", str(port)]
    with log_path.open("w") as log:
        server = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, server, log_path)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def wait_until_up(url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"tiw app exited with {server.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"tiw app did not answer within {START_SECONDS} s:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def cli_frames(app_inputs, face_photo, tmp_path_factory) -> int:
    """How many frames `tiw animate` writes for the sample photo and the short clip."""
    output = tmp_path_factory.mktemp("cli") / "out.mp4"
    command = [sys.executable, "-m", "tiwcli", "animate", str(face_photo), str(app_inputs / "clip.mp4")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [*command, "-o", str(output)], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    return frames_in(output)
