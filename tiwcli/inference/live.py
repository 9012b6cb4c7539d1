"""`tiw live`: animate source portrait(s) in real time from a camera, Avatarify-style.

Threads joined by one-slot "latest frame only" queues (`LatestFrame`), so the pipeline
drops frames rather than falling behind: whatever is slow, the model always works on the
newest frame there is, and latency stays bounded.

    capture ─latest─> prepare ─latest─> model worker(s) ─latest─> overlay + outputs
    (decode; a file   (face tracking,   (batch 1, relative        (the calling thread:
     is played at      smoothed crop)    motion, paste-back)       window, virtual
     its own rate)                                                 camera, file)

With `workers` > 1, several model workers each take the newest frame (frame-parallel: on a
small CPU, two 1-thread workers get more frames through than one 2-thread worker, because
this model's many small ops scale poorly across threads); a frame finished after a newer
one has been shown is dropped, so the output never goes back in time.

- Input (live_capture.py): a V4L2 camera, a stream URL, or a video file played at its own
  frame rate, standing in for a camera.
- Faces: `FaceFollower` (the detector every few frames, landmark tracking in between) and an
  online `BoxSmoother`: a live crop cannot be smoothed with future frames.
- Motion is relative to an anchor frame: the driving frame whose keypoints count as "the
  source's pose". It is the first frame with a face, or the one after `anchor_after`
  seconds; `LiveSession.reanchor()` (key `r`, or Enter in the terminal) makes the next frame
  the anchor, as Avatarify's calibration does: look like the source, then re-anchor. With
  landmark weights and `mouth_reference` "closed" (the default), mouth openings are measured
  from the least open the driver's mouth has been since the anchor (no frames are read ahead).
- Outputs (`tiwcli.inference.live_outputs`): an OpenCV window (optional), a virtual camera through
  pyvirtualcam (optional), a video file whose timing follows the input (each output frame is
  held until the next, so the file plays at the input's speed; skipped frames are not encoded).
- The fps and latency (from capture to display) are drawn on every frame (`overlay`).

Frames without a face show the source, unanimated, and are counted.
"""

from __future__ import annotations

import collections
import contextlib
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from tiwcli.faces.crop import crop_box_from_landmarks
from tiwcli.faces.follow import FaceFollower
from tiwcli.faces.track import BoxSmoother
from tiwcli.inference.animator import Animator
from tiwcli.inference.live_capture import CapturedFrame, LatestFrame, LiveOptions, capture_frames
from tiwcli.inference.motion import landmarks_in_crop
from tiwcli.inference.options import Sources
from tiwcli.timing import StageTimes

_WAIT_SECONDS = 0.1  # how often blocked threads look at the stop flag


@dataclass(frozen=True)
class PreparedFrame:
    captured: CapturedFrame
    crop: np.ndarray | None  # (S, S, 3) uint8 model input; None: no face
    landmarks: np.ndarray | None = None  # (68, 2) in the crop's [-1, 1], for a model with the landmark prior


@dataclass(frozen=True)
class AnimatedFrame:
    captured: CapturedFrame
    image: np.ndarray  # (H, W, 3) uint8 output (the source itself when there was no face)
    face: bool


@dataclass
class LiveSummary:
    frames_captured: int = 0
    frames_shown: int = 0  # output frames (each through the model, or the source when no face)
    dropped: int = 0  # frames replaced by a newer one before the next stage took them
    frames_without_face: int = 0
    anchors: int = 0  # times the relative motion was (re-)anchored
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)  # capture -> output, per frame
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_calls: dict[str, int] = field(default_factory=dict)  # frames each stage handled
    stopped_by: str = "end of input"

    @property
    def frames_per_second(self) -> float:
        return self.frames_shown / self.seconds if self.seconds > 0 else 0.0

    def latency_percentile(self, percent: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]

    def as_dict(self) -> dict[str, object]:
        return {
            "frames_captured": self.frames_captured,
            "frames_shown": self.frames_shown,
            "dropped": self.dropped,
            "frames_without_face": self.frames_without_face,
            "anchors": self.anchors,
            "seconds": self.seconds,
            "frames_per_second": self.frames_per_second,
            "latency_ms_mean": statistics.fmean(self.latencies_ms) if self.latencies_ms else None,
            "latency_ms_p50": self.latency_percentile(50) if self.latencies_ms else None,
            "latency_ms_p95": self.latency_percentile(95) if self.latencies_ms else None,
            "stage_ms_per_frame": {  # per frame that went through the stage (dropped ones skip some)
                stage: 1000 * value / max(self.stage_calls.get(stage, 0), 1)
                for stage, value in self.stage_seconds.items()
            },
            "stopped_by": self.stopped_by,
        }


# ---------------------------------------------------------------------------------------------
# The session


class LiveSession:
    """Sources encoded once; `prepare` (faces, crop) and `animate` (model) one frame at a time."""

    def __init__(self, animator: Animator, sources: Sources, options: LiveOptions) -> None:
        self.animator = animator
        self.sources = sources
        self.options = options
        self.encoding = animator.encode_sources(sources)
        self.follower = (
            FaceFollower(animator.analyzer, options.detect_every) if animator.options.crop else None
        )
        self.smoother = BoxSmoother()
        self.reference = None  # driving keypoints of the anchor frame
        self.reference_landmarks: np.ndarray | None = None  # (68, 2) its landmarks (landmark prior)
        self.mouth_least: float | None = None  # the driver's least mouth opening since (motion.py)
        self.anchors = 0
        self._reanchor = threading.Event()
        self._anchor_lock = threading.Lock()  # workers decide and set the anchor one at a time
        self._anchoring = False
        still = sources.frame if sources.frame is not None else sources.crops[0]
        self.still = np.ascontiguousarray(still)  # shown while there is no face
        # one call before the clock starts: the first pays for allocation and kernel selection (with
        # the source's own landmarks for a landmark model: the ONNX engine renders with landmarks only)
        landmarks = None
        if animator.uses_landmarks and sources.landmarks is not None:
            landmarks = sources.landmarks[:1]
        animator.animate_crops(self.encoding, sources.crops[:1], None, landmarks)
        self.times = animator.times = StageTimes()

    def reanchor(self) -> None:
        """Make the next frame with a face the anchor of the relative motion (thread-safe)."""
        self._reanchor.set()

    def prepare(self, captured: CapturedFrame) -> PreparedFrame:
        if self.follower is None:
            with self.times.measure("crop"):
                crop = np.array(self.animator.fit(captured.image))
            found = self.animator.fitted_landmarks([captured.image])
            return PreparedFrame(captured, crop, None if found is None else found[0])
        with self.times.measure("faces"):
            face = self.follower.update(captured.image)
        if face is None:
            return PreparedFrame(captured, None)
        box = self.smoother.update(crop_box_from_landmarks(face.landmarks))
        landmarks = landmarks_in_crop(face.landmarks, box, 0) if self.animator.uses_landmarks else None
        with self.times.measure("crop"):
            crop = np.array(self.animator.cut(captured.image, box))  # writable
        return PreparedFrame(captured, crop, landmarks)

    def animate(self, prepared: PreparedFrame, elapsed: float) -> np.ndarray | None:
        """The output frame (H, W, 3) uint8; None when the frame has no face."""
        if prepared.crop is None:
            return None
        with self._anchor_lock:
            first_anchor = self.reference is None and elapsed >= self.options.anchor_after
            anchoring = not self._anchoring and (self._reanchor.is_set() or first_anchor)
            if anchoring:
                self._reanchor.clear()
                self._anchoring = True
            # before the first anchor, reference None: each frame is its own, the source holds still
            reference = None if anchoring else self.reference
            reference_landmarks = None if anchoring else self.reference_landmarks
            mouth_least = None if anchoring else self.mouth_least
        landmarks = None if prepared.landmarks is None else prepared.landmarks[None]
        detected, _, results = self.animator.animate_crops(
            self.encoding, prepared.crop[None], reference, landmarks, reference_landmarks, None, mouth_least
        )
        if anchoring:
            with self._anchor_lock:
                self.reference, self._anchoring = detected[0], False
                self.reference_landmarks, self.mouth_least = prepared.landmarks, None
                self.anchors += 1
        elif landmarks is not None:
            with self._anchor_lock:  # the mouth's reference closes as far as the driver's has
                if self.reference_landmarks is not None:
                    self.reference_landmarks, self.mouth_least = self.animator.carry_reference_landmarks(
                        self.reference_landmarks, landmarks, None, self.mouth_least
                    )
        return self.animator.paste(self.sources, results)[0]


def run_live(
    session: LiveSession,
    outputs: list[Callable[[np.ndarray, CapturedFrame], bool]],
) -> LiveSummary:
    """Run until the input ends, a limit is reached, an output asks to stop, or Ctrl-C.

    Capture, preparation and `options.workers` model workers run in threads; the outputs run
    in the calling thread (GUI toolkits want the main thread), each getting (frame, captured)
    and returning False to stop (a window's `q`). Ctrl-C is a normal way to stop a live
    session: the summary says so, and the caller closes its outputs as usual.
    """

    def index_of(item: object) -> int:
        return item.captured.index  # type: ignore[attr-defined]

    slots = [LatestFrame(), LatestFrame(), LatestFrame(order=index_of)]  # captured, prepared, animated
    stop = threading.Event()
    failures: list[BaseException] = []
    summary = LiveSummary()
    start = time.perf_counter()
    workers_left = _Countdown(session.options.workers, slots[2].close)
    threads = [
        threading.Thread(target=_capture_worker, args=(session, slots[0], stop, failures, summary)),
        threading.Thread(target=_prepare_worker, args=(session, slots[0], slots[1], stop, failures)),
    ] + [
        threading.Thread(
            target=_animate_worker, args=(session, slots[1], slots[2], stop, failures, start, workers_left)
        )
        for _ in range(session.options.workers)
    ]
    for thread in threads:
        thread.daemon = True
        thread.start()
    try:
        summary.stopped_by = _output_loop(session, outputs, slots[2], summary, start, failures)
    except KeyboardInterrupt:
        summary.stopped_by = "Ctrl-C"
    finally:
        stop.set()
        for slot in slots:
            slot.close()
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    summary.seconds = time.perf_counter() - start
    summary.dropped = sum(slot.dropped for slot in slots)
    summary.anchors = session.anchors
    summary.stage_seconds = session.times.seconds()
    summary.stage_calls = session.times.calls()
    return summary


def _output_loop(session, outputs, animated_slot, summary, start, failures) -> str:  # type: ignore[no-untyped-def]
    options = session.options
    meter = _RateMeter()
    last_shown = -1
    while True:
        if failures:
            return "error"
        animated = animated_slot.get(_WAIT_SECONDS)
        if animated is None:
            if animated_slot.closed:
                return "end of input"
            continue
        assert isinstance(animated, AnimatedFrame)
        if animated.captured.index < last_shown:  # a slower worker's older frame: never go back
            summary.dropped += 1
            continue
        last_shown = animated.captured.index
        frame = animated.image
        latency = time.perf_counter() - animated.captured.captured_at
        meter.tick()
        if options.overlay:
            with session.times.measure("overlay"):
                frame = draw_overlay(frame, meter.rate(), latency * 1000, animated.face)
        summary.latencies_ms.append(latency * 1000)
        summary.frames_shown += 1
        summary.frames_without_face += not animated.face
        keep_going = True
        for output in outputs:
            keep_going = output(frame, animated.captured) and keep_going
        if not keep_going:
            return "stopped by the user"
        if options.max_frames is not None and summary.frames_shown >= options.max_frames:
            return "--max-frames"
        if options.max_seconds is not None and time.perf_counter() - start >= options.max_seconds:
            return "--max-seconds"


def _capture_worker(session, slot, stop, failures, summary) -> None:  # type: ignore[no-untyped-def]
    try:
        for captured in capture_frames(session.options, stop, session.times):
            summary.frames_captured += 1
            slot.put(captured)
    except BaseException as error:  # handed to the main thread
        failures.append(error)
    finally:
        slot.close()


def _prepare_worker(session, captured_slot, prepared_slot, stop, failures) -> None:  # type: ignore[no-untyped-def]
    """Prepares a frame only when a model worker is about to want one: after the previous one was
    taken, it waits for the usual time between takes less the usual preparing time (`_JustInTime`),
    then prepares the newest captured frame. No face tracking is spent on frames the model would
    never see (on a small CPU that work, and the GIL it holds, slowed the model about twofold), and
    the frame is fresh when taken (latency)."""
    pace = _JustInTime()
    try:
        while not stop.wait(pace.delay()):
            captured = captured_slot.get(_WAIT_SECONDS)
            if captured is None:
                if captured_slot.closed:
                    return
                continue
            started = time.perf_counter()
            prepared_slot.put(session.prepare(captured))
            pace.prepared(time.perf_counter() - started)
            while not stop.is_set() and not prepared_slot.wait_taken(_WAIT_SECONDS):
                pass
            pace.taken(time.perf_counter())
    except BaseException as error:
        failures.append(error)
    finally:
        prepared_slot.close()


class _JustInTime:
    """When to prepare the next frame: the mean time between takes by the model workers, less
    the mean preparing time and a margin, after the last take (exponential means)."""

    SMOOTHING = 0.2  # weight of the newest measurement
    MARGIN = 0.010  # seconds: better a frame a little older than a model worker waiting

    def __init__(self) -> None:
        self._interval: float | None = None
        self._preparing = 0.0
        self._last_take: float | None = None

    def prepared(self, seconds: float) -> None:
        self._preparing += self.SMOOTHING * (seconds - self._preparing)

    def taken(self, now: float) -> None:
        if self._last_take is not None:
            interval = now - self._last_take
            self._interval = (
                interval
                if self._interval is None
                else (self._interval + self.SMOOTHING * (interval - self._interval))
            )
        self._last_take = now

    def delay(self) -> float:
        """Seconds to wait, from now, before preparing the next frame (0: at once)."""
        if self._interval is None or self._last_take is None:
            return 0.0
        due = self._last_take + self._interval - self._preparing - self.MARGIN
        return max(0.0, due - time.perf_counter())


def _animate_worker(session, prepared_slot, animated_slot, stop, failures, start, done) -> None:  # type: ignore[no-untyped-def]
    try:
        for prepared in _taken(prepared_slot, stop):
            image = session.animate(prepared, time.perf_counter() - start)
            face = image is not None
            animated_slot.put(AnimatedFrame(prepared.captured, image if face else session.still, face))
    except BaseException as error:
        failures.append(error)
    finally:
        done()


def _taken(slot: LatestFrame, stop: threading.Event) -> Iterator:
    """The items of `slot` as they come, until it is closed and empty or `stop` is set."""
    while not stop.is_set():
        item = slot.get(_WAIT_SECONDS)
        if item is not None:
            yield item
        elif slot.closed:
            return


class _Countdown:
    """Calls `then` when `count` parties have called it (the last model worker closes its slot)."""

    def __init__(self, count: int, then: Callable[[], None]) -> None:
        self._count = count
        self._then = then
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self._count -= 1
            last = self._count == 0
        if last:
            self._then()


class _RateMeter:
    """Frames per second over the last second."""

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self._ticks: collections.deque[float] = collections.deque()

    def tick(self) -> None:
        now = time.perf_counter()
        self._ticks.append(now)
        while self._ticks and now - self._ticks[0] > self.window:
            self._ticks.popleft()

    def rate(self) -> float:
        if len(self._ticks) < 2:
            return 0.0
        return (len(self._ticks) - 1) / max(self._ticks[-1] - self._ticks[0], 1e-6)


def draw_overlay(frame: np.ndarray, fps: float, latency_ms: float, face: bool) -> np.ndarray:
    """A copy of `frame` with "12.3 fps  85 ms" (and "no face") in its top-left corner."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(np.ascontiguousarray(frame))
    draw = ImageDraw.Draw(image)
    text = f"{fps:4.1f} fps  {latency_ms:4.0f} ms" + ("" if face else "  no face")
    left, top, right, bottom = draw.textbbox((4, 4), text)
    draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=(0, 0, 0))
    draw.text((4, 4), text, fill=(255, 255, 0))
    return np.asarray(image)


@contextlib.contextmanager
def terminal_keys(session: LiveSession, stop_requested: threading.Event) -> Iterator[None]:
    """On a terminal: Enter or `r` + Enter re-anchors, `q` + Enter stops. Elsewhere: nothing."""
    if not sys.stdin or not sys.stdin.isatty():
        yield
        return

    def read() -> None:
        for line in sys.stdin:
            command = line.strip().lower()
            if command in ("", "r"):
                session.reanchor()
            elif command == "q":
                stop_requested.set()
                return

    threading.Thread(target=read, name="tiw-keys", daemon=True).start()
    yield
