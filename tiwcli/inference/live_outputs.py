"""Where `tiw live` sends its frames: a window, a virtual camera, a video file.

Each output is a context manager and a callable `(frame, captured) -> keep going`. The
window and the virtual camera need optional packages (`pip install "tiw[live]"`: opencv-python
and pyvirtualcam); `check_available` says which one is missing before any work starts.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np

from tiwcli.errors import InputError
from tiwcli.paths import package_folder

if TYPE_CHECKING:
    from tiwcli.inference.live import LiveSession
    from tiwcli.inference.live_capture import CapturedFrame
    from tiwcli.timing import StageTimes

_NEEDS = {
    "window": ("cv2", 'the window needs OpenCV: pip install "tiw[live]" (or opencv-python)'),
    "virtual camera": (
        "pyvirtualcam",
        'the virtual camera needs pyvirtualcam: pip install "tiw[live]" (and, on Linux, v4l2loopback)',
    ),
}


def check_available(window: bool, virtual_camera: bool) -> None:
    """InputError naming the package to install when a requested output's library is missing."""
    for wanted, name in ((window, "window"), (virtual_camera, "virtual camera")):
        module, message = _NEEDS[name]
        if wanted and package_folder(module) is None:
            raise InputError(message)


class _Output:
    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        pass


class FileOutput(_Output):
    """A video file that keeps the input's timing: each output frame is shown from the moment its
    input frame was captured (on the input's frame grid) until the next output frame; the frames
    the model skipped are not encoded again, they are the previous frame held (a variable frame
    rate, as a phone's video). Encoded with x264 set for real time (`VideoWriter(realtime=True)`).

    Written like every `tiw` output: to a temporary file, renamed into place when the session
    ends (Ctrl-C included: it is the usual way to stop a camera), removed after an error.
    """

    def __init__(
        self, path: Path, fps: Fraction, overwrite: bool, crf: int = 18, times: StageTimes | None = None
    ) -> None:
        from tiwcli.io.streaming import BackgroundConsumer
        from tiwcli.io.video import VideoWriter

        self.fps = fps
        self.writer = VideoWriter(path, fps, crf=crf, overwrite=overwrite, realtime=True)
        self._encoder = BackgroundConsumer(self._write, depth=4)
        self._first_time: float | None = None
        self._last_slot = -1
        self.frames_written = 0
        self._times = times

    def __enter__(self) -> FileOutput:
        self.writer.__enter__()
        self._encoder.__enter__()
        return self

    def __call__(self, frame: np.ndarray, captured: CapturedFrame) -> bool:
        if self._first_time is None:
            self._first_time = captured.captured_at
        slot = round((captured.captured_at - self._first_time) * float(self.fps))
        self._encoder.submit((slot, frame))
        return True

    def _write(self, item: tuple[int, np.ndarray]) -> None:
        if self._times is None:
            self._write_slot(*item)
            return
        with self._times.measure("encode"):
            self._write_slot(*item)

    def _write_slot(self, slot: int, frame: np.ndarray) -> None:
        slot = max(slot, self._last_slot + 1)  # two frames in one slot: the later one a slot on
        self.writer.write(frame, Fraction(slot) / self.fps)
        self._last_slot = slot
        self.frames_written += 1

    def __exit__(self, exc_type, exc, traceback) -> None:  # type: ignore[no-untyped-def]
        try:
            self._encoder.__exit__(exc_type, exc, traceback)
        finally:
            self.writer.__exit__(exc_type, exc, traceback)


class WindowOutput(_Output):
    """An OpenCV window. Keys: r re-anchors the motion, q or Esc stops."""

    def __init__(self, session: LiveSession, title: str = "tiw live") -> None:
        import cv2

        self._cv2 = cv2
        self.session = session
        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)

    def __call__(self, frame: np.ndarray, captured: CapturedFrame) -> bool:
        self._cv2.imshow(self.title, np.ascontiguousarray(frame[..., ::-1]))  # OpenCV wants BGR
        key = self._cv2.waitKey(1) & 0xFF
        if key == ord("r"):
            self.session.reanchor()
        return key not in (ord("q"), 27)

    def close(self) -> None:
        self._cv2.destroyWindow(self.title)


class VirtualCameraOutput(_Output):
    """A virtual camera (pyvirtualcam: v4l2loopback on Linux, OBS on Windows and macOS) that
    video-call programs can pick. Opened at the first frame, when the size is known."""

    def __init__(self, fps: Fraction, device: str | None = None) -> None:
        self.fps = float(fps)
        self.device = device
        self._camera = None

    def __call__(self, frame: np.ndarray, captured: CapturedFrame) -> bool:
        if self._camera is None:
            self._camera = self._open(frame.shape[1], frame.shape[0])
        self._camera.send(np.ascontiguousarray(frame))
        return True

    def _open(self, width: int, height: int):  # type: ignore[no-untyped-def]
        import pyvirtualcam

        try:
            return pyvirtualcam.Camera(
                width, height, self.fps, fmt=pyvirtualcam.PixelFormat.RGB, device=self.device
            )
        except RuntimeError as error:  # no loopback device, no OBS
            raise InputError(f"virtual camera: {error}".splitlines()[0]) from None

    def close(self) -> None:
        if self._camera is not None:
            self._camera.close()
