"""Files in, files out: the part of `tiw animate` that touches the disk, reusable from Python.

`AnimationJob` names the inputs and outputs; `prepare_job` checks every one of them before any
work (one-line errors, no output file; job_inputs.py); `run_job` streams the driving video through
an `Animator` into `VideoWriter`s (writing.py), which write to hidden temporary files and rename
them only on success, so Ctrl-C or an error never leaves a partial output or preview. Several
faces and video editing run through mode_jobs.py. Everything a caller needs is importable from here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from tiwcli.inference.job_inputs import (
    MAX_SOURCE_SIDE,
    AnimationJob,
    PreparedJob,
    check_edit,
    check_video_suffix,
    default_output,
    load_source,
    prepare_job,
    preview_path_for,
    probe_driving,
    source_video_info,
)
from tiwcli.inference.writing import frame_source, write_frames, write_videos

if TYPE_CHECKING:
    from tiwcli.faces.backends import FaceAnalyzer
    from tiwcli.inference.onnx_engine import OnnxEngine
    from tiwcli.inference.options import AnimateOptions, AnimationSummary, ProgressCallback
    from tiwcli.models import ImplicitWarping

__all__ = [
    "MAX_SOURCE_SIDE",
    "AnimationJob",
    "PreparedJob",
    "check_edit",
    "check_video_suffix",
    "default_output",
    "different_people_warning",
    "frame_source",
    "load_model_and_faces",
    "load_source",
    "prepare_job",
    "preview_path_for",
    "probe_driving",
    "run_job",
    "source_video_info",
    "write_frames",
    "write_videos",
]


def run_job(
    prepared: PreparedJob,
    model: ImplicitWarping,
    options: AnimateOptions,
    analyzer: FaceAnalyzer | None = None,
    progress: ProgressCallback | None = None,
) -> AnimationSummary:
    """Animate and write the output (and preview); returns the run's summary."""
    from tiwcli.inference.animator import Animator

    if prepared.job.edit or options.faces != "largest" or prepared.job.driving_per_face:
        from tiwcli.inference.mode_jobs import run_edit_job, run_group_job

        run = run_edit_job if prepared.job.edit else run_group_job
        return run(prepared, model, options, analyzer, progress)
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


def load_model_and_faces(
    weights_path: Path, options: AnimateOptions, threads: int | None = None
) -> tuple[ImplicitWarping | OnnxEngine, FaceAnalyzer | None]:
    """The model as `options.engine` runs it (`threads`: ONNX Runtime's; torch's are set by the
    caller), and the face analyzer when faces are cropped."""
    from tiwcli.faces.backends import load_face_analyzer
    from tiwcli.inference.engines import check_engine, load_engine

    check_engine(options.engine, options.device, options.precision)
    model = load_engine(weights_path, options.engine, threads)
    analyzer = None
    if options.crop:
        analyzer = load_face_analyzer(options.face_backend)
    return model, analyzer
