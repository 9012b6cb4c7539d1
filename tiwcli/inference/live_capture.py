"""`tiw live`'s input: its options, the camera (or a stream, or a file standing in for one), and the
one-slot "latest frame only" queue that joins the threads of the live pipeline (live.py).

- Input (`open_capture`): a V4L2 camera (`/dev/videoN`, PyAV's `v4l2` input), a stream URL,
  or a video file played at its own frame rate, standing in for a camera (`loop` replays it).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from tiwcli.errors import InputError
from tiwcli.faces.follow import DETECT_EVERY
from tiwcli.timing import StageTimes


@dataclass(frozen=True)
class LiveOptions:
    camera: str = "/dev/video0"  # /dev/videoN, a stream URL, or a video file played at its own rate
    camera_size: str | None = None  # V4L2 only: "640x480"
    camera_fps: int | None = None  # V4L2 only
    loop: bool = False  # a file: start again at its end
    overlay: bool = True  # draw fps and latency on the output
    anchor_after: float = 0.0  # seconds: the anchor is the first frame with a face after this
    max_seconds: float | None = None  # stop after this long
    max_frames: int | None = None  # stop after this many output frames
    detect_every: int = DETECT_EVERY
    workers: int = 1  # model threads, each on the newest frame (with --threads 1: frame-parallel)

    def __post_init__(self) -> None:
        # `not x >= 0` rather than `x < 0`: NaN fails every comparison, so it is refused too
        if not math.isfinite(self.anchor_after) or not self.anchor_after >= 0:
            raise InputError(f"--anchor-after must be 0 or more seconds, not {self.anchor_after}")
        if self.max_frames is not None and self.max_frames < 1:
            raise InputError("--max-frames must be at least 1")
        if self.max_seconds is not None and not (self.max_seconds > 0 and math.isfinite(self.max_seconds)):
            raise InputError(f"--max-seconds must be a number of seconds above 0, not {self.max_seconds}")
        if self.camera_size is not None and not re.fullmatch(r"[1-9]\d{0,4}x[1-9]\d{0,4}", self.camera_size):
            raise InputError(f"--camera-size {self.camera_size!r}: expected WIDTHxHEIGHT, e.g. 640x480")
        if self.camera_fps is not None and not 1 <= self.camera_fps <= 1000:
            raise InputError(f"--camera-fps must be from 1 to 1000, not {self.camera_fps}")
        if self.workers < 1:
            raise InputError("--workers must be at least 1")


class CapturedFrame:
    """One input frame. `image` (H, W, 3) uint8 RGB is converted from the decoder's frame when first
    read (given a function), so the frames the pipeline drops, most of a 60 fps camera's on a
    small CPU, cost their decoding only; `index` is its position in the input (frames since the
    start), `captured_at` the time.perf_counter() when it arrived (a file: when it was due)."""

    __slots__ = ("_image", "_lock", "captured_at", "index")

    def __init__(self, image: np.ndarray | Callable[[], np.ndarray], index: int, captured_at: float) -> None:
        self._image = image
        self._lock = threading.Lock()
        self.index = index
        self.captured_at = captured_at

    @property
    def image(self) -> np.ndarray:
        with self._lock:  # converted once, whichever thread reads it first
            if callable(self._image):
                self._image = self._image()
            return self._image


class LatestFrame:
    """A one-slot queue: `put` replaces what is waiting (counted in `dropped`), `get` waits.

    With `order` (item -> number), an item older than the one waiting is dropped instead:
    several producers finishing out of order never put an older frame before a newer one.
    """

    def __init__(self, order: Callable[[object], int] | None = None) -> None:
        self._item: object | None = None
        self._closed = False
        self._condition = threading.Condition()
        self._order = order
        self.dropped = 0

    def put(self, item: object) -> None:
        with self._condition:
            if self._item is not None:
                self.dropped += 1
                if self._order is not None and self._order(item) < self._order(self._item):
                    return
            self._item = item
            self._condition.notify_all()

    def get(self, timeout: float) -> object | None:
        """The newest item (taken), or None after `timeout` seconds or once closed and empty."""
        with self._condition:
            self._condition.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            self._condition.notify_all()  # a producer may be waiting for the slot to be taken
            return item

    def wait_taken(self, timeout: float) -> bool:
        """Wait until the waiting item has been taken (or the slot closed): True if so, False
        after `timeout` seconds."""
        with self._condition:
            return self._condition.wait_for(lambda: self._item is None or self._closed, timeout)

    def close(self) -> None:
        """No more items: `get` returns what is left, then None at once."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed and self._item is None


def is_camera(camera: str) -> bool:
    return camera.startswith("/dev/video")


def open_capture(options: LiveOptions):  # type: ignore[no-untyped-def]
    """An open PyAV input container for the camera, stream or file."""
    import av

    camera = options.camera
    if not is_camera(camera) and "://" not in camera:
        path = Path(camera)
        if not path.is_file():
            raise InputError(f"{camera}: no such file or camera")
    try:
        if is_camera(camera):
            settings = {}
            if options.camera_size:
                settings["video_size"] = options.camera_size
            if options.camera_fps:
                settings["framerate"] = str(options.camera_fps)
            container = av.open(camera, format="v4l2", options=settings)
        else:
            container = av.open(camera)
    except (av.error.FFmpegError, OSError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else error.__class__.__name__
        raise InputError(f"{camera}: cannot be opened ({reason})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{camera}: has no video stream")
    return container


def capture_frames(options: LiveOptions, stop: threading.Event, times: StageTimes) -> Iterator[CapturedFrame]:
    """Frames as they arrive: a camera or stream as fast as it sends, a file at its own rate
    (each frame waits for its timestamp, counted from the first frame; `loop` goes on seamlessly)."""
    paced = not is_camera(options.camera) and "://" not in options.camera
    index = 0
    start = time.perf_counter()
    offset = 0.0  # seconds of the input played in earlier loops
    while not stop.is_set():
        played = 0.0
        for image, seconds, fps in _decoded(options, times):  # seconds since the input's first frame
            if stop.is_set():
                return
            due = start + offset + seconds
            if paced and stop.wait(max(due - time.perf_counter(), 0.0)):
                return
            yield CapturedFrame(image, index, due if paced else time.perf_counter())
            index += 1
            played = seconds + 1 / fps
        if not (options.loop and paced) or played == 0:
            return
        offset += played


def _decoded(
    options: LiveOptions, times: StageTimes
) -> Iterator[tuple[Callable[[], np.ndarray], float, float]]:
    """(a function giving the RGB frame, seconds since the first frame, frames per second) of one
    pass over the input. Decoded on this thread alone (no frame threads: they would hold frames
    back and take the cores the model needs); the conversion to RGB waits for a reader."""
    import av

    with open_capture(options) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        first: float | None = None
        decoding = container.decode(stream)
        try:
            for count in itertools.count():
                with times.measure("decode"):
                    frame = next(decoding, None)
                if frame is None:
                    return
                seconds = float(frame.time) if frame.time is not None else count / fps
                first = seconds if first is None else first
                yield functools.partial(_to_rgb, frame, times), seconds - first, fps
        except av.error.FFmpegError as error:
            raise InputError(
                f"{options.camera}: corrupt or interrupted video ({error.__class__.__name__})"
            ) from None


def _to_rgb(frame, times: StageTimes) -> np.ndarray:  # type: ignore[no-untyped-def]
    """(H, W, 3) uint8 RGB of a decoded PyAV frame, turned upright."""
    from tiwcli.io.video import rotate_frame

    with times.measure("convert"):
        rotation = int(getattr(frame, "rotation", 0) or 0)
        return rotate_frame(frame.to_ndarray(format="rgb24"), rotation)


def input_rate(options: LiveOptions) -> Fraction:
    """The input's nominal frame rate (files and streams say; cameras: --camera-fps or 30)."""
    if is_camera(options.camera):
        return Fraction(options.camera_fps or 30)
    with open_capture(options) as container:
        stream = container.streams.video[0]
        return Fraction(stream.average_rate or stream.guessed_rate or 25)
