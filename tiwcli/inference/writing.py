"""Animated frames into files: the driving (or source) video's frames read ahead in a thread
(`frame_source`), and the output and its preview written by `VideoWriter`s that appear only when
everything succeeded (`write_videos` for `Animator` batches, `write_frames` for whole frames).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from tiwcli.inference.animator import Animator
    from tiwcli.inference.options import AnimatedBatch, Sources
    from tiwcli.io.video import VideoInfo
    from tiwcli.timing import StageTimes


def frame_source(
    path: Path, prefetch_frames: int = 32, times: StageTimes | None = None
) -> Callable[[], Iterator[np.ndarray]]:
    """A re-openable pass over a video's frames (the pipeline reads the driving video more than once).

    Frames are decoded in a background thread, up to `prefetch_frames` ahead of the model;
    `times` (if given) counts that work as the `decode` stage.
    """
    from tiwcli.io.streaming import prefetch
    from tiwcli.io.video import VideoReader

    def decode() -> Iterator[np.ndarray]:
        with VideoReader(path) as reader:
            yield from reader.frames() if times is None else times.timed(reader.frames(), "decode")

    def frames() -> Iterator[np.ndarray]:
        return prefetch(decode(), depth=prefetch_frames)

    return frames


def write_videos(
    animator: Animator,
    sources: Sources,
    driving: VideoInfo,
    output: Path,
    preview_path: Path | None,
    overwrite: bool,
    crf: int,
) -> float:
    """Animate into OUT (and OUT.preview): both appear only when everything succeeded. Frames keep
    the driving video's timestamps (a variable frame rate stays in sync with the audio). Returns
    the output's length in seconds."""
    from tiwcli.io.streaming import BackgroundConsumer
    from tiwcli.io.video import VideoWriter, frame_times

    audio = driving.path if driving.has_audio else None
    times = frame_times(driving.path)
    preview_done = False
    try:
        with VideoWriter(output, driving.fps, audio, crf, overwrite, times) as writer:
            with contextlib.ExitStack() as stack:
                preview_writer = None
                if preview_path is not None:
                    preview_writer = stack.enter_context(
                        VideoWriter(preview_path, driving.fps, audio, crf, overwrite, times)
                    )
                    strip = source_strip_for(animator, sources)

                def encode(batch: AnimatedBatch) -> None:
                    with animator.times.measure("encode"):
                        writer.write_batch(batch.frames)
                        if preview_writer is not None:
                            for frame in preview_frames(strip, batch):
                                preview_writer.write(frame)

                # encoding runs in a background thread, while the model works on the next batch
                encoder = stack.enter_context(BackgroundConsumer(encode, depth=2))
                frames = frame_source(driving.path, times=animator.times)
                for batch in animator.animate(sources, frames, name=str(driving.path)):
                    encoder.submit(batch)
            preview_done = preview_path is not None
    except BaseException:
        if preview_done and preview_path is not None:
            preview_path.unlink(missing_ok=True)  # the main output failed while closing
        raise
    return float(writer.seconds)


def write_frames(
    frames: Iterator[np.ndarray],
    timing: VideoInfo,
    output: Path,
    overwrite: bool,
    crf: int,
    audio_from: VideoInfo | None = None,
) -> float:
    """Whole output frames into OUT, with `timing`'s frame times and the audio of `audio_from`
    (default: `timing`); OUT appears only when everything succeeded. Returns its length in seconds."""
    from tiwcli.io.video import VideoWriter, frame_times

    audio_from = audio_from or timing
    audio = audio_from.path if audio_from.has_audio else None
    with VideoWriter(output, timing.fps, audio, crf, overwrite, frame_times(timing.path)) as writer:
        for frame in frames:
            writer.write(frame)
    return float(writer.seconds)


def preview_frames(strip: np.ndarray, batch: AnimatedBatch) -> Iterator[np.ndarray]:
    from tiwcli.inference.preview import preview_frame

    for index in range(len(batch.frames)):
        yield preview_frame(
            strip,
            batch.driving[index],
            batch.driving_keypoints.positions[index],
            batch.driving_keypoints.strengths[index],
            batch.results[index],
            batch.motion_keypoints.positions[index],
            batch.motion_keypoints.strengths[index],
        )


def source_strip_for(animator: Animator, sources: Sources) -> np.ndarray:
    from tiwcli.inference.preview import source_strip

    keypoints = animator.source_keypoints(sources)
    return source_strip(sources.crops, keypoints.positions, keypoints.strengths)
