"""Where the time of an animation goes: seconds per stage, summed across threads.

Stages run on different threads (decoding ahead of the model, encoding behind it, paste-back
beside it), so the per-stage times overlap and their sum can exceed the wall time: a stage
whose time is hidden behind the model's costs nothing end to end. The split is printed by
`tiw animate --verbose` and `tiw live` (`format_split`); `tiw bench` reads it as data from
its child process's JSON, never from printed text.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

# The stages, in pipeline order. decode: video frames to RGB arrays; faces: detection and
# landmark tracking; crop: cutting model-size crops; model: keypoints + warp + generator;
# mouth: the driver's mouth interior painted in (inference.mouth_interior); paste: the result
# blended back into the source photo; encode: H.264 (and preview) output.
STAGES = ("decode", "faces", "crop", "model", "mouth", "paste", "encode")

_SPLIT_PREFIX = "time split, ms/frame:"


class StageTimes:
    """Thread-safe seconds per stage; `measure` and `timed` add to it from any thread."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}
        self._calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._seconds[stage] = self._seconds.get(stage, 0.0) + seconds
            self._calls[stage] = self._calls.get(stage, 0) + 1

    def calls(self) -> dict[str, int]:
        """Stage -> how many times it was timed (frames, when each call handles one)."""
        with self._lock:
            return dict(self._calls)

    @contextlib.contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - start)

    def timed(self, items: Iterable[T], stage: str) -> Iterator[T]:
        """Iterate `items`, counting the time spent producing each one as `stage`."""
        iterator = iter(items)
        try:
            while True:
                start = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    self.add(stage, time.perf_counter() - start)
                yield item
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def consumed(self, items: Iterable[T], stage: str) -> Iterator[T]:
        """Iterate `items`, counting the time the caller spends on each one as `stage`."""
        for item in items:
            start = time.perf_counter()
            yield item
            self.add(stage, time.perf_counter() - start)

    def seconds(self) -> dict[str, float]:
        """Stage -> seconds, pipeline order first, then any other stage."""
        with self._lock:
            known = {stage: self._seconds[stage] for stage in STAGES if stage in self._seconds}
            return known | {stage: value for stage, value in self._seconds.items() if stage not in known}


def format_split(seconds: dict[str, float], frames: int | dict[str, int]) -> str:
    """'time split, ms/frame: decode 2.1, faces 3.0, ...' (stages overlap: see the module doc).

    `frames`: the output frames (every stage saw each of them), or per stage the frames it
    handled (`StageTimes.calls()` where each call is one frame, as in `tiw live`, which drops some).
    """
    counts = frames if isinstance(frames, dict) else dict.fromkeys(seconds, frames)
    per_frame = {stage: 1000 * value / max(counts.get(stage, 0), 1) for stage, value in seconds.items()}
    return f"{_SPLIT_PREFIX} " + ", ".join(f"{stage} {value:.1f}" for stage, value in per_frame.items())
