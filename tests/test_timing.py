"""tiwcli/timing.py: per-stage seconds from several threads, and the printed split read back."""

from __future__ import annotations

import threading

import pytest

from tiwcli.timing import StageTimes, format_split


def test_stages_add_up_across_threads_in_pipeline_order():
    times = StageTimes()

    def work() -> None:
        for _ in range(100):
            times.add("encode", 0.001)
            times.add("decode", 0.002)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with times.measure("model"):
        pass
    seconds = times.seconds()
    assert list(seconds) == ["decode", "model", "encode"]  # pipeline order, not arrival order
    assert seconds["decode"] == pytest.approx(0.8) and seconds["encode"] == pytest.approx(0.4)


def test_timed_counts_the_producer_and_consumed_the_consumer():
    times = StageTimes()
    assert list(times.timed(iter([1, 2, 3]), "decode")) == [1, 2, 3]
    assert list(times.consumed(iter("ab"), "faces")) == ["a", "b"]
    assert set(times.seconds()) == {"decode", "faces"}


def test_split_prints_ms_per_frame():
    line = format_split({"decode": 0.1, "faces": 0.05, "model": 2.0}, frames=100)
    assert line == "time split, ms/frame: decode 1.0, faces 0.5, model 20.0"
