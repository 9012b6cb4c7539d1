import threading
import time

import pytest

from tiwcli.io.streaming import BackgroundConsumer, prefetch


def test_prefetch_keeps_order_and_stays_bounded():
    produced = []

    def items():
        for index in range(50):
            produced.append(index)
            yield index

    seen = []
    for item in prefetch(items(), depth=4):
        seen.append(item)
        time.sleep(0.001)
        assert len(produced) - len(seen) <= 4 + 1  # queue depth + the one in hand
    assert seen == list(range(50))


def test_prefetch_raises_producer_errors_in_the_caller():
    def items():
        yield 1
        raise ValueError("corrupt frame")

    with pytest.raises(ValueError, match="corrupt frame"):
        list(prefetch(items(), depth=2))


def test_prefetch_closes_the_producer_in_its_thread_when_the_caller_stops():
    closed_in = []

    def items():
        try:
            yield from range(1000)
        finally:
            closed_in.append(threading.current_thread().name)

    for item in prefetch(items(), depth=2):
        if item == 3:
            break
    assert closed_in == ["tiw-prefetch"]


def test_consumer_does_all_the_work_in_order():
    done = []
    with BackgroundConsumer(done.append, depth=2) as consumer:
        for index in range(20):
            consumer.submit(index)
    assert done == list(range(20))


def test_consumer_error_reaches_the_producer():
    def consume(item):
        if item == 2:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), BackgroundConsumer(consume, depth=1) as consumer:
        for index in range(100):
            consumer.submit(index)
            time.sleep(0.002)


def test_consumer_stops_when_the_producer_fails():
    done = []
    with pytest.raises(RuntimeError), BackgroundConsumer(done.append, depth=50) as consumer:
        consumer.submit(0)
        raise RuntimeError("model failed")
    assert len(done) <= 1
