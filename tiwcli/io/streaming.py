"""Overlap decode, compute and encode with two bounded background threads.

PyAV decodes and encodes, and torch computes, with the GIL released, so a
decoding thread ahead of the model and an encoding thread behind it run in
parallel with it. Queues are bounded: memory stays constant for any length.
An error in a background thread is raised again in the caller's thread, and
when the caller stops early (an error, Ctrl-C) the threads are told to stop
and joined, so files are closed in the thread that opened them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")

_DONE = object()
_POLL_SECONDS = 0.1


def prefetch(items: Iterable[T], depth: int) -> Iterator[T]:
    """Iterate `items` in a background thread, at most `depth` items ahead of the caller."""
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=_POLL_SECONDS)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as error:  # handed to the consumer, raised there
            failure.append(error)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()  # run the producer's `finally`/`with` exits in this thread
            _put_until_stopped(buffer, _DONE, stop)

    worker = threading.Thread(target=produce, name="tiw-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                break
            yield item  # type: ignore[misc]
        if failure:
            raise failure[0]
    finally:
        stop.set()
        worker.join()


def _put_until_stopped(buffer: queue.Queue[object], item: object, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            buffer.put(item, timeout=_POLL_SECONDS)
            return
        except queue.Full:
            continue


class BackgroundConsumer(Generic[T]):
    """Feed items to `consume` in a background thread. Context manager; re-raises its errors.

    `submit` blocks while `depth` items wait. Leaving the `with` block waits for the
    queue to drain (or, after an error, drops what is left) and joins the thread.
    """

    def __init__(self, consume: Callable[[T], None], depth: int) -> None:
        self._consume = consume
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="tiw-consumer", daemon=True)

    def __enter__(self) -> BackgroundConsumer[T]:
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._failure or self._stop.is_set():
                continue  # drain without work until told we are done
            try:
                self._consume(item)  # type: ignore[arg-type]
            except BaseException as error:  # handed to the producer, raised there
                self._failure.append(error)

    def submit(self, item: T) -> None:
        self._raise_failure()
        _put_until_stopped(self._queue, item, self._stop)
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure:
            raise self._failure[0]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._stop.set()  # skip the rest of the queue
            self._queue.put(_DONE)  # the thread drains, so this slot frees up
            self._thread.join()
            return
        self._queue.put(_DONE)
        self._thread.join()
        self._raise_failure()


def batched(items: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """(H, W, 3) arrays -> stacked (b, H, W, 3) batches of at most `size` items."""
    batch: list[np.ndarray] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)
