"""Files in, files out for the modes beyond one face (`tiw animate --faces`, `--driving-per-face`,
`--edit`): the part of jobs.py that runs them, over group.py and video_edit.py. The output is written
by `jobs.write_frames`: it appears only when everything succeeded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tiwcli.errors import InputError
from tiwcli.inference.writing import frame_source, write_frames

if TYPE_CHECKING:
    import numpy as np

    from tiwcli.faces.backends import FaceAnalyzer
    from tiwcli.inference.job_inputs import PreparedJob
    from tiwcli.inference.options import AnimateOptions, AnimationSummary, ProgressCallback
    from tiwcli.models import ImplicitWarping


def run_group_job(
    prepared: PreparedJob,
    model: ImplicitWarping,
    options: AnimateOptions,
    analyzer: FaceAnalyzer | None = None,
    progress: ProgressCallback | None = None,
) -> AnimationSummary:
    """Several faces of one photo (inference/group.py), written like `run_job`'s output."""
    from tiwcli.choices import parse_faces
    from tiwcli.faces.backends import load_face_analyzer
    from tiwcli.inference.animator import Animator
    from tiwcli.inference.group import (
        SharedAnalyzer,
        animate_group,
        faces_in_reading_order,
        group_sources,
        select_faces,
    )
    from tiwcli.timing import StageTimes

    job = prepared.job
    if prepared.source_video is not None or len(prepared.source_images) != 1:
        raise InputError("--faces animates the faces of ONE source photo (not several, not a video)")
    if not options.crop:
        raise InputError("--faces needs face cropping (drop --no-crop)")
    if prepared.preview_path is not None:
        raise InputError("--preview shows one face: leave it out with --faces or --driving-per-face")
    shared = SharedAnalyzer(analyzer or load_face_analyzer(options.face_backend))
    photo, name = prepared.source_images[0], str(job.sources[0])
    faces = select_faces(faces_in_reading_order(photo, shared), parse_faces(options.faces), name)  # type: ignore[arg-type]
    drivers = [prepared.driving, *prepared.more_driving]
    if job.driving_per_face and len(drivers) != len(faces):
        raise InputError(
            f"--driving-per-face: {len(faces)} face{'s' * (len(faces) > 1)} chosen in {name} but "
            f"{len(drivers)} driving video{'s' * (len(drivers) > 1)} given (one per face, left to right)"
        )
    times = StageTimes()
    animators = [
        Animator(model, options, analyzer=shared, progress=progress if index == 0 else None, times=times)  # type: ignore[arg-type]
        for index in range(len(faces))
    ]
    group = group_sources(animators[0], photo, faces)
    paths = [info.path for info in drivers] if job.driving_per_face else [prepared.driving.path] * len(faces)
    sources = [frame_source(path, times=times) for path in paths]
    frames = animate_group(animators, photo, group, sources, [str(path) for path in paths])
    seconds = write_frames(frames, prepared.driving, job.output, job.overwrite, job.crf)
    summary = animators[0].settled_summary()
    return dataclasses.replace(
        summary, video_seconds=seconds, output_size=photo.shape[1::-1], faces=len(faces)
    )


def run_edit_job(
    prepared: PreparedJob,
    model: ImplicitWarping,
    options: AnimateOptions,
    analyzer: FaceAnalyzer | None = None,
    progress: ProgressCallback | None = None,
) -> AnimationSummary:
    """`--edit`: the source video with the driver's expression (video_edit.py), at the source's
    length, frame rate and timing, with its audio unless `audio` is "driving"."""
    import time

    from tiwcli.inference.animator import Animator
    from tiwcli.inference.options import AnimationSummary
    from tiwcli.inference.video_edit import edit_frames, plan_edit

    if not options.crop:
        raise InputError("--edit needs face cropping (drop --no-crop)")
    if options.controls.motion == "pose":
        raise InputError("--edit keeps the source video's own head pose: --motion pose would change nothing")
    start = time.perf_counter()
    animator = Animator(model, options, analyzer=analyzer, progress=progress)
    source, job = prepared.source_video, prepared.job
    assert source is not None
    frames_of = frame_source(source.path, times=animator.times)
    driving = frame_source(prepared.driving.path, times=animator.times)
    plan = plan_edit(animator, frames_of, driving, (str(source.path), str(prepared.driving.path)))
    audio_from = prepared.driving if job.audio == "driving" else source
    passed = 0

    def frames() -> Iterator[np.ndarray]:
        nonlocal passed
        for batch, edited in edit_frames(animator, plan, frames_of):
            passed += int((~edited).sum())
            yield from batch

    seconds = write_frames(frames(), source, job.output, job.overwrite, job.crf, audio_from)
    elapsed = time.perf_counter() - start
    count = plan.source.num_frames
    return AnimationSummary(
        frames=count,
        seconds=elapsed,
        frames_per_second=count / elapsed if elapsed > 0 else 0.0,
        frames_without_face=passed,
        sources_used=(),
        reference_frame=None,
        output_size=(plan.source.frame_width, plan.source.frame_height),
        stage_seconds=animator.times.seconds(),
        video_seconds=seconds,
    )
