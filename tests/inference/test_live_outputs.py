"""tiwcli/inference/live_outputs.py: the window and the virtual camera against stand-ins for OpenCV and
pyvirtualcam (neither is installed here, and no display or loopback device exists)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from tiwcli.errors import InputError
from tiwcli.inference.live_capture import CapturedFrame
from tiwcli.inference.live_outputs import VirtualCameraOutput, WindowOutput, check_available


def captured() -> CapturedFrame:
    return CapturedFrame(np.zeros((4, 4, 3), np.uint8), 0, 0.0)


class FakeSession:
    def __init__(self) -> None:
        self.reanchored = 0

    def reanchor(self) -> None:
        self.reanchored += 1


@pytest.fixture
def fake_cv2(monkeypatch):
    module = types.SimpleNamespace(WINDOW_NORMAL=0, shown=[], keys=[], closed=[])
    module.namedWindow = lambda title, flags: None
    module.imshow = lambda title, image: module.shown.append(image)
    module.waitKey = lambda delay: module.keys.pop(0) if module.keys else -1
    module.destroyWindow = lambda title: module.closed.append(title)
    monkeypatch.setitem(sys.modules, "cv2", module)
    return module


def test_window_shows_bgr_and_reads_the_keys(fake_cv2):
    session = FakeSession()
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[..., 0] = 255  # red
    fake_cv2.keys = [-1, ord("r"), ord("q")]
    with WindowOutput(session) as window:  # type: ignore[arg-type]
        assert window(frame, captured())  # no key
        assert window(frame, captured())  # r: re-anchor, keep going
        assert not window(frame, captured())  # q: stop
    assert session.reanchored == 1
    assert fake_cv2.shown[0][0, 0].tolist() == [0, 0, 255]  # BGR for OpenCV
    assert fake_cv2.closed == ["tiw live"]


def test_virtual_camera_opens_at_the_first_frame_with_its_size(monkeypatch):
    sent, opened = [], []

    class Camera:
        def __init__(self, width, height, fps, fmt, device):
            opened.append((width, height, fps, fmt))

        def send(self, frame):
            sent.append(frame.shape)

        def close(self):
            opened.append("closed")

    module = types.SimpleNamespace(Camera=Camera, PixelFormat=types.SimpleNamespace(RGB="rgb"))
    monkeypatch.setitem(sys.modules, "pyvirtualcam", module)
    with VirtualCameraOutput(fps=25) as camera:
        for _ in range(3):
            assert camera(np.zeros((48, 64, 3), np.uint8), captured())
    assert opened == [(64, 48, 25.0, "rgb"), "closed"]
    assert sent == [(48, 64, 3)] * 3


def test_no_loopback_device_is_one_line(monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("'v4l2loopback' module not loaded\nsecond line")

    module = types.SimpleNamespace(Camera=fail, PixelFormat=types.SimpleNamespace(RGB="rgb"))
    monkeypatch.setitem(sys.modules, "pyvirtualcam", module)
    with pytest.raises(InputError, match=r"^virtual camera: 'v4l2loopback' module not loaded$"):
        VirtualCameraOutput(fps=25)(np.zeros((8, 8, 3), np.uint8), captured())


def test_missing_optional_libraries_name_the_extra(monkeypatch):
    monkeypatch.setattr("tiwcli.inference.live_outputs.package_folder", lambda name: None)
    check_available(window=False, virtual_camera=False)
    with pytest.raises(InputError, match=r"tiw\[live\]"):
        check_available(window=True, virtual_camera=False)
    with pytest.raises(InputError, match="pyvirtualcam"):
        check_available(window=False, virtual_camera=True)
