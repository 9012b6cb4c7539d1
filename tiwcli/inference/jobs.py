"""Files in, files out: the part of `tiw animate` that touches the disk, reusable from Python.

`AnimationJob` names the inputs and outputs; `prepare_job` checks every one of
them before any work (one-line errors, no output file); `run_job` streams the
driving video through an `Animator` into `VideoWriter`s, which write to hidden
temporary files and rename them only on success, so Ctrl-C or an error never
leaves a partial output or preview.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tiwcli.errors import InputError

if TYPE_CHECKING:
    import numpy as np

    from tiwcli.faces.backends import FaceAnalyzer
    from tiwcli.inference.animator import Animator
    from tiwcli.inference.options import (
        AnimatedBatch,
        AnimateOptions,
        AnimationSummary,
        ProgressCallback,
        Sources,
    )
    from tiwcli.io.video import VideoInfo
    from tiwcli.models import ImplicitWarping
    from tiwcli.timing import StageTimes

MAX_SOURCE_SIDE = 2048  # bigger photos are downscaled first: paste-back output stays a sane video size


@dataclass(frozen=True)
class AnimationJob:
    sources: list[Path]  # source photos, or one source video
    driving: Path
    output: Path
    weights: Path | None = None  # None: $TIW_WEIGHTS or the shipped default
    preview: bool = False  # also write OUT.preview.mp4
    overwrite: bool = False
    crf: int = 18


@dataclass
class PreparedJob:
    job: AnimationJob
    weights: Path
    driving: VideoInfo
    source_video: VideoInfo | None  # set when the sources are one video
    source_images: list[np.ndarray]  # set when the sources are photos
    preview_path: Path | None


def prepare_job(job: AnimationJob) -> PreparedJob:
    """Check every input and output before any work is done."""
    from tiwcli.io.files import check_name_length, check_not_an_input
    from tiwcli.io.video import check_output_path, probe_video

    preview_path = preview_path_for(job.output) if job.preview else None
    for path in (job.output, preview_path):
        if path is not None:
            check_video_suffix(path)
            check_name_length(path)
            check_not_an_input(path, [*job.sources, job.driving, *([job.weights] if job.weights else [])])
            check_output_path(path, job.overwrite)
    from tiwcli.checkpoint import resolve_weights

    weights = resolve_weights(job.weights)
    driving = probe_driving(job.driving, probe_video)
    source_video = source_video_info(job.sources, probe_video)
    images = [] if source_video is not None else [load_source(path) for path in job.sources]
    return PreparedJob(job, weights, driving, source_video, images, preview_path)


def run_job(
    prepared: PreparedJob,
    model: ImplicitWarping,
    options: AnimateOptions,
    analyzer: FaceAnalyzer | None = None,
    progress: ProgressCallback | None = None,
) -> AnimationSummary:
    """Animate and write the output (and preview); returns the run's summary."""
    from tiwcli.inference.animator import Animator

    animator = Animator(model, options, analyzer=analyzer, progress=progress)
    if prepared.source_video is not None:
        path = prepared.source_video.path
        sources = animator.sources_from_video(frame_source(path, times=animator.times), name=str(path))
    else:
        names = [str(path) for path in prepared.job.sources]
        sources = animator.sources_from_images(prepared.source_images, names=names)
    job = prepared.job
    seconds = write_videos(
        animator, sources, prepared.driving, job.output, prepared.preview_path, job.overwrite, job.crf
    )
    summary = animator.settled_summary()  # the encoder thread has finished: its time counts
    return dataclasses.replace(summary, video_seconds=seconds)


def different_people_warning(prepared: PreparedJob, analyzer: FaceAnalyzer | None) -> str | None:
    """A warning when two source photos look like different people (their faces' identity
    embeddings are farther apart than SAME_PERSON_DISTANCE): the model would blend them. None when
    they agree or it cannot tell (one source, a source video, no face found by the quick detector)."""
    import itertools

    import numpy as np

    from tiwcli.faces.backends import SAME_PERSON_DISTANCE

    if analyzer is None or len(prepared.source_images) < 2:
        return None
    embeddings = []
    for path, image in zip(prepared.job.sources, prepared.source_images, strict=True):
        faces = analyzer.detect(image)
        if faces:
            embeddings.append((path, analyzer.embedding(image, faces[0])))
    for (first, first_embedding), (second, second_embedding) in itertools.combinations(embeddings, 2):
        distance = float(np.linalg.norm(first_embedding - second_embedding))
        if distance > SAME_PERSON_DISTANCE:
            return (
                f"{first.name} and {second.name} look like different people (identity distance "
                f"{distance:.2f}, one person is usually below {SAME_PERSON_DISTANCE}): the result mixes them"
            )
    return None


def preview_path_for(output: Path) -> Path:
    """OUT.mp4 -> OUT.preview.mp4"""
    return output.with_name(f"{output.stem}.preview{output.suffix}")


def check_video_suffix(path: Path) -> None:
    from tiwcli.io.video import OUTPUT_VIDEO_SUFFIXES

    if path.suffix.lower() not in OUTPUT_VIDEO_SUFFIXES:
        raise InputError(f"{path}: output must be a video file ({', '.join(sorted(OUTPUT_VIDEO_SUFFIXES))})")


def probe_driving(path: Path, probe: Callable[[Path], VideoInfo]) -> VideoInfo:
    from tiwcli.io.images import animated_frames, is_image_path

    if is_image_path(path) and path.exists() and animated_frames(path) == 1:
        raise InputError(f"{path}: the driving input must be a video, not an image")
    return probe(path)


def source_video_info(sources: list[Path], probe: Callable[[Path], VideoInfo]) -> VideoInfo | None:
    """The source video's info when the sources are one video; None when they are images."""
    from tiwcli.io.images import is_image_path

    videos = [path for path in sources if not is_image_path(path)]
    if not videos:
        return None
    if len(sources) > 1:
        raise InputError(f"{videos[0]}: give either source images or ONE source video, not a mix")
    return probe(videos[0])


def load_source(path: Path) -> np.ndarray:
    """A source photo as RGB uint8, downscaled to at most MAX_SOURCE_SIDE on its longer side."""
    import sys

    from tiwcli.io.images import animated_frames, load_image, resize_image

    image = load_image(path)
    frames = animated_frames(path)
    if frames > 1:  # an animated GIF or WebP: the same for both formats
        print(
            f"note: {path}: an animated image of {frames} frames; its first frame is the source "
            f"(to take sources from its frames, convert it to a video: ffmpeg -i {path.name} source.mp4)",
            file=sys.stderr,
        )
    height, width = image.shape[:2]
    scale = MAX_SOURCE_SIDE / max(height, width)
    if scale < 1:
        image = resize_image(image, (round(height * scale), round(width * scale)))
    return image


def load_model_and_faces(
    weights_path: Path, options: AnimateOptions
) -> tuple[ImplicitWarping, FaceAnalyzer | None]:
    from tiwcli.checkpoint import load_model
    from tiwcli.faces.backends import load_face_analyzer

    model = load_model(weights_path)
    analyzer = None
    if options.crop:
        analyzer = load_face_analyzer(options.face_backend)
    return model, analyzer


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
