"""`tiw live` with a real clip standing in for the camera: drops frames, never falls behind.

The tiny untrained model runs at batch 1; the clip plays at its own rate, so each test takes
about as long as the part of the clip it plays (limited to a second or two).
"""

from __future__ import annotations

import json
import threading
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tiwcli.checkpoint import save_model
from tiwcli.cli import app
from tiwcli.errors import InputError
from tiwcli.inference.animator import Animator
from tiwcli.inference.live import LiveSession, draw_overlay, run_live
from tiwcli.inference.live_capture import (
    CapturedFrame,
    LatestFrame,
    LiveOptions,
    capture_frames,
    input_rate,
)
from tiwcli.inference.options import AnimateOptions
from tiwcli.io.images import load_image
from tiwcli.io.video import frame_times, probe_video
from tiwcli.models import ImplicitWarping
from tiwcli.timing import StageTimes


@pytest.fixture(scope="module")
def model(tiny_config) -> ImplicitWarping:
    torch.manual_seed(0)
    return ImplicitWarping(tiny_config).eval()


@pytest.fixture(scope="module")
def weights(tmp_path_factory, model) -> Path:
    path = tmp_path_factory.mktemp("live") / "tiny.safetensors"
    save_model(path, model)
    return path


def session_for(model, face_photo, camera: Path, **options) -> LiveSession:
    animator = Animator(model, AnimateOptions(device="cpu", batch_size=1))
    sources = animator.sources_from_images([load_image(face_photo)])
    return LiveSession(animator, sources, LiveOptions(camera=str(camera), **options))


def test_latest_frame_keeps_only_the_newest_and_counts_the_rest():
    slot = LatestFrame()
    for item in (1, 2, 3):
        slot.put(item)
    assert slot.get(timeout=0.01) == 3
    assert slot.dropped == 2
    assert slot.get(timeout=0.01) is None  # nothing new: times out
    slot.put(4)
    slot.close()
    assert not slot.closed  # 4 still waits
    assert slot.get(timeout=1) == 4
    assert slot.closed and slot.get(timeout=1) is None  # closed and empty: at once


def test_an_ordered_latest_frame_never_replaces_a_newer_item_by_an_older_one():
    slot = LatestFrame(order=lambda item: item)
    slot.put(12)
    slot.put(10)  # a slower producer's older frame
    assert slot.get(timeout=0.01) == 12
    assert slot.dropped == 1


def test_a_producer_can_wait_for_its_item_to_be_taken():
    slot = LatestFrame()
    assert slot.wait_taken(timeout=0.01)  # empty
    slot.put(1)
    assert not slot.wait_taken(timeout=0.01)  # still waiting: times out
    threading.Timer(0.05, lambda: slot.get(timeout=1)).start()
    assert slot.wait_taken(timeout=2)  # woken when a consumer takes it
    slot.put(2)
    slot.close()
    assert slot.wait_taken(timeout=0.01)  # closed: nobody will take it, do not wait


def test_a_captured_frame_is_converted_once_and_only_when_read():
    calls = []

    def convert():
        calls.append(1)
        return np.zeros((4, 4, 3), np.uint8)

    frame = CapturedFrame(convert, 3, 1.5)
    assert calls == [] and (frame.index, frame.captured_at) == (3, 1.5)
    assert frame.image.shape == (4, 4, 3) and frame.image is frame.image
    assert calls == [1]
    assert CapturedFrame(np.ones((2, 2, 3), np.uint8), 0, 0.0).image.sum() == 12  # an array as it is


def test_frames_are_prepared_just_in_time():
    """After the model has taken frames at a steady pace, the next is prepared that pace after the
    last take, less the usual preparing time and a margin; before that, at once."""
    from tiwcli.inference.live import _JustInTime

    pace = _JustInTime()
    assert pace.delay() == 0.0
    now = time.perf_counter()
    for take in range(6):
        pace.prepared(0.02)
        pace.taken(now - 0.5 + 0.1 * take)  # one take every 100 ms, the last 0 s ago
    expected = 0.1 - 0.02 - _JustInTime.MARGIN  # 70 ms from the last take
    assert pace.delay() == pytest.approx(expected, abs=0.01)


def test_only_frames_the_model_takes_are_prepared(model, face_photo, wolfgang, monkeypatch):
    """A slow model: face tracking runs about once per model frame, not on every captured frame."""
    session = session_for(model, face_photo, wolfgang, max_frames=4)
    prepare, animate = session.prepare, session.animator.animate_crops
    prepared = []

    def counted(captured):
        prepared.append(captured.index)
        return prepare(captured)

    def slow(*args, **kwargs):
        time.sleep(0.2)
        return animate(*args, **kwargs)

    monkeypatch.setattr(session, "prepare", counted)
    monkeypatch.setattr(session.animator, "animate_crops", slow)
    summary = run_live(session, [lambda frame, captured: True])
    assert summary.frames_captured >= 15  # the clip ran on at 24 fps
    assert len(prepared) <= summary.frames_shown + 2  # one ahead, and one at the end


def test_a_file_is_played_at_its_own_rate(carphone):
    options = LiveOptions(camera=str(carphone))
    fps = float(input_rate(options))
    frames = []
    start = time.perf_counter()
    for captured in capture_frames(options, threading.Event(), StageTimes()):
        frames.append(captured)
        if len(frames) == 16:
            break
    elapsed = time.perf_counter() - start
    assert [frame.index for frame in frames] == list(range(16))
    assert elapsed >= 15 / fps * 0.95  # not faster than real time
    # the time each frame was due follows the clip's timestamps
    steps = np.diff([frame.captured_at for frame in frames])
    np.testing.assert_allclose(steps, 1 / fps, rtol=0.05)


def test_live_drops_frames_instead_of_falling_behind(model, face_photo, wolfgang, monkeypatch):
    session = session_for(model, face_photo, wolfgang, max_frames=4)
    original = session.animator.animate_crops

    def slow(*args, **kwargs):  # far slower than the clip's 24 fps
        time.sleep(0.2)
        return original(*args, **kwargs)

    monkeypatch.setattr(session.animator, "animate_crops", slow)
    shown: list[CapturedFrame] = []
    summary = run_live(session, [lambda frame, captured: shown.append(captured) or True])
    assert summary.stopped_by == "--max-frames"
    assert summary.frames_shown == len(shown) == 4
    assert summary.dropped > 0
    assert summary.frames_captured > summary.frames_shown
    # newest first: the frames shown skip ahead through the clip
    assert max(np.diff([captured.index for captured in shown])) > 1
    assert summary.anchors == 1
    assert {"decode", "faces", "crop", "model", "paste", "overlay"} <= set(summary.stage_seconds)


def test_two_workers_show_frames_in_order_and_anchor_once(model, face_photo, wolfgang, monkeypatch):
    session = session_for(model, face_photo, wolfgang, max_frames=6, workers=2)
    original = session.animator.animate_crops

    def uneven(*args, **kwargs):  # workers finish out of order
        time.sleep(0.05 + 0.1 * np.random.default_rng().random())
        return original(*args, **kwargs)

    monkeypatch.setattr(session.animator, "animate_crops", uneven)
    shown: list[int] = []
    summary = run_live(session, [lambda frame, captured: shown.append(captured.index) or True])
    assert len(shown) == 6 and shown == sorted(shown)
    assert summary.anchors == 1
    assert summary.frames_shown == len(shown)


def test_reanchoring_makes_the_next_frame_the_reference(model, face_photo, wolfgang):
    session = session_for(model, face_photo, wolfgang, max_frames=3)
    outputs = []

    def reanchor_after_first(frame, captured):
        outputs.append(frame)
        if len(outputs) == 1:
            session.reanchor()
        return True

    summary = run_live(session, [reanchor_after_first])
    assert summary.frames_shown == 3
    assert summary.anchors == 2
    assert all(frame.shape == outputs[0].shape for frame in outputs)


def test_anchor_waits_for_anchor_after(model, face_photo, wolfgang):
    session = session_for(model, face_photo, wolfgang, max_frames=2, anchor_after=60)
    summary = run_live(session, [lambda frame, captured: True])
    assert summary.frames_shown == 2 and summary.anchors == 0


def test_an_output_can_stop_the_session(model, face_photo, wolfgang):
    session = session_for(model, face_photo, wolfgang)
    summary = run_live(session, [lambda frame, captured: False])
    assert summary.frames_shown == 1 and summary.stopped_by == "stopped by the user"


def test_overlay_draws_in_the_corner_only():
    frame = np.full((64, 96, 3), 100, np.uint8)
    drawn = draw_overlay(frame, 24.5, 80, face=True)
    assert drawn.shape == frame.shape
    assert not np.array_equal(drawn[:16, :40], frame[:16, :40])
    np.testing.assert_array_equal(drawn[40:], frame[40:])


def test_options_are_validated():
    with pytest.raises(InputError):
        LiveOptions(anchor_after=-1)
    with pytest.raises(InputError):
        LiveOptions(max_frames=0)
    with pytest.raises(InputError):
        LiveOptions(workers=0)


# the command


def run(*args: object):
    result = CliRunner().invoke(app, ["live", *map(str, args)])
    assert "Traceback" not in result.output, result.output
    return result


def test_live_command_records_a_file_with_the_input_timing(tmp_path, weights, face_photo, carphone):
    output, stats = tmp_path / "live.mp4", tmp_path / "live.json"
    result = run(
        face_photo, "--camera", carphone, "-o", output, "--weights", weights, "--device", "cpu",
        "--threads", "1", "--max-seconds", "1.5", "--stats-json", stats,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "fps" in result.output and "latency p50" in result.output and "time split" in result.output
    info, rate = probe_video(output), probe_video(carphone).fps
    # every frame sits on the input's frame grid (a slow machine skips slots: the file is then a
    # variable frame rate, and its average rate below the input's)
    times = frame_times(output)
    assert times is not None
    seconds = [pts * times.time_base for pts in times.pts]
    slots = [float(second * rate) for second in seconds]
    assert all(abs(slot - round(slot)) < 0.02 for slot in slots), slots
    assert all(b > a for a, b in pairwise(slots))
    assert info.fps <= rate
    data = json.loads(stats.read_text())
    assert data["frames_shown"] >= 1 and data["latency_ms_p50"] > 0
    assert info.num_frames >= data["frames_shown"]  # every frame shown is in the file


def test_file_output_holds_each_frame_until_the_next(tmp_path):
    """The frames the model skipped are not encoded again: each output frame is stamped at its
    input frame's moment and held until the next, so the file plays at the input's speed."""
    from fractions import Fraction

    import av

    from tiwcli.inference.live_outputs import FileOutput

    path = tmp_path / "out.mp4"
    colours = {0: 0, 3: 80, 4: 160, 9: 240}  # input frames shown; 1, 2, 5..8 were dropped
    with FileOutput(path, Fraction(25), overwrite=False) as output:
        for index, grey in colours.items():
            frame = np.full((32, 32, 3), grey, np.uint8)
            assert output(frame, CapturedFrame(frame, index, captured_at=100 + index / 25))
    assert output.frames_written == 4
    with av.open(str(path)) as container:
        decoded = [(float(frame.time), int(frame.to_ndarray(format="rgb24")[16, 16, 0]))
                   for frame in container.decode(video=0)]  # fmt: skip
        duration = float(container.duration / av.time_base)
    assert [round(time * 25) for time, _ in decoded] == list(colours)
    assert np.abs(np.array([grey for _, grey in decoded]) - list(colours.values())).max() <= 3  # H.264
    assert abs(duration - 10 / 25) < 0.03  # the last frame's slot ends the file


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to show"),
        (["--window"], "OpenCV"),
        (["--virtual-camera"], "pyvirtualcam"),
        (["-o", "out.txt"], "must be a video"),
        (["-o", "out.mp4", "--camera", "missing.mp4"], "no such file or camera"),
        (["-o", "out.mp4", "--anchor-after", "-2"], "anchor-after"),
    ],
)
def test_live_command_bad_input_is_one_line(args, message, face_photo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("tiwcli.inference.live_outputs.package_folder", lambda name: None)  # no optional libs
    result = run(face_photo, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_loop_plays_a_file_again_without_a_gap(tmp_path, carphone):
    from tiwcli.io.video import VideoWriter, read_all_frames

    short = tmp_path / "short.mp4"
    with VideoWriter(short, 30) as writer:
        writer.write_batch(read_all_frames(carphone, max_frames=5))
    frames = []
    for captured in capture_frames(
        LiveOptions(camera=str(short), loop=True), threading.Event(), StageTimes()
    ):
        frames.append(captured)
        if len(frames) == 12:
            break
    assert [frame.index for frame in frames] == list(range(12))
    np.testing.assert_allclose(np.diff([frame.captured_at for frame in frames]), 1 / 30, rtol=1e-3)


def test_live_command_unreadable_camera_file_is_one_line(tmp_path, face_photo, weights):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    result = run(face_photo, "--camera", garbage, "-o", tmp_path / "out.mp4", "--weights", weights)
    assert result.exit_code == 2, result.output
    assert "garbage.mp4: cannot be opened" in result.output
    assert not (tmp_path / "out.mp4").exists()


def test_a_landmark_model_gets_each_frames_landmarks_moved_from_the_anchor(
    tiny_landmark_config, face_photo, wolfgang
):
    """With the landmark prior, each prepared frame carries the followed face's 68 landmarks in its
    crop, and the anchor frame drives the source with the source's own landmarks."""
    import dataclasses

    config = tiny_landmark_config
    torch.manual_seed(0)
    session = session_for(ImplicitWarping(config).eval(), face_photo, wolfgang, max_frames=3)
    session.animator.options = dataclasses.replace(session.animator.options, mouth_reference="closed")
    given = []
    original = session.animator.animate_crops

    def spy(encoding, crops, reference, landmarks=None, reference_landmarks=None, *mouth):
        given.append((landmarks, reference_landmarks))
        return original(encoding, crops, reference, landmarks, reference_landmarks, *mouth)

    session.animator.animate_crops = spy
    summary = run_live(session, [lambda frame, captured: True])
    assert summary.frames_shown == 3 and summary.anchors == 1
    assert all(landmarks is not None and np.isfinite(landmarks).all() for landmarks, _ in given)
    assert given[0][1] is None  # the anchor: its own landmarks are the reference
    assert session.reference_landmarks is not None and np.abs(session.reference_landmarks).max() < 1.2
    # after the anchor, the driver's least mouth opening is followed (with mouth_reference "closed")
    from tiwcli.inference.motion import mouth_openings

    assert session.mouth_least is not None
    assert session.mouth_least <= mouth_openings(session.reference_landmarks.astype(np.float64)) + 1e-9


@pytest.mark.parametrize("where", ["a folder", "a missing folder"])
def test_live_stats_json_destination_is_checked_before_the_run(
    tmp_path, monkeypatch, face_photo, carphone, where
):
    """D11: --stats-json to a folder or into a missing folder is exit 2 before the camera (or file)
    is opened (before: a traceback after the run, the video written, exit 1)."""
    from typer.testing import CliRunner

    from tiwcli.cli import app

    def no_run(*args, **kwargs):
        raise AssertionError("the live run started before --stats-json was checked")

    monkeypatch.setattr("tiwcli.inference.live_capture.input_rate", no_run)
    target = tmp_path if where == "a folder" else tmp_path / "missing" / "stats.json"
    arguments = ["live", str(face_photo), "--camera", str(carphone), "-o", str(tmp_path / "out.mp4")]
    result = CliRunner().invoke(app, [*arguments, "--stats-json", str(target)])
    assert "Traceback" not in result.output and result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --stats-json"), lines
    assert not (tmp_path / "out.mp4").exists()


def test_motion_controls_work_live(shipped_model, face_photo, wolfgang):
    """`tiw live --motion pose --no-mouth`: the live loop drives the model with controlled landmarks
    (the keypoints following them), with the shipped weights, from the first frame on."""
    from tiwcli.inference.motion_controls import MotionControls

    options = AnimateOptions(device="cpu", batch_size=1, controls=MotionControls("pose", mouth=False))
    animator = Animator(shipped_model, options)
    sources = animator.sources_from_images([load_image(face_photo)])
    session = LiveSession(animator, sources, LiveOptions(camera=str(wolfgang), max_frames=3))
    shown = []
    summary = run_live(session, [lambda frame, captured: shown.append(frame) is None])
    assert summary.frames_shown == 3 and all(frame.shape == sources.frame.shape for frame in shown)


def test_motion_controls_need_landmark_weights(model):
    from tiwcli.inference.motion_controls import MotionControls

    with pytest.raises(InputError, match="landmark prior"):
        Animator(model, AnimateOptions(device="cpu", controls=MotionControls("expression")))


def test_the_drivers_mouth_interior_works_live(tiny_landmark_config, face_photo, wolfgang, monkeypatch):
    """`tiw live --mouth-interior driver`: the live loop hands each frame's driving crop and landmarks
    to the painter, and the frames come out (the painting itself: tests/inference/test_mouth_interior)."""
    import dataclasses

    import tiwcli.inference.animator as animator_module

    torch.manual_seed(0)
    session = session_for(ImplicitWarping(tiny_landmark_config).eval(), face_photo, wolfgang, max_frames=3)
    session.animator.options = dataclasses.replace(session.animator.options, mouth_interior="driver")
    painted = []
    original = animator_module.paint_mouth_interior

    def spy(results, crops, landmarks, moved, source_landmarks):
        painted.append((crops.shape, np.isfinite(landmarks).all()))
        return original(results, crops, landmarks, moved, source_landmarks)

    monkeypatch.setattr(animator_module, "paint_mouth_interior", spy)
    summary = run_live(session, [lambda frame, captured: True])
    assert summary.frames_shown == 3
    assert len(painted) >= 3 and all(shape[0] == 1 and found for shape, found in painted)
