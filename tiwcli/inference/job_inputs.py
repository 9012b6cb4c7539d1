"""What `tiw animate` is asked to do, checked before any work: `AnimationJob` (the files and
options), `prepare_job` (every input read or probed, every output checked: one-line errors, no
output file), and the checks and defaults it uses. jobs.py runs a prepared job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tiwcli.choices import AudioFrom, check_choice
from tiwcli.errors import InputError

if TYPE_CHECKING:
    import numpy as np

    from tiwcli.io.video import VideoInfo

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
    driving_per_face: tuple[Path, ...] = ()  # several faces, each its own driver (the first is `driving`)
    edit: bool = False  # the source is a video whose expression is replaced (video_edit.py)
    audio: AudioFrom | None = None  # whose audio the output keeps; None: the driver's (--edit: the source's)


@dataclass
class PreparedJob:
    job: AnimationJob
    weights: Path
    driving: VideoInfo
    source_video: VideoInfo | None  # set when the sources are one video
    source_images: list[np.ndarray]  # set when the sources are photos
    preview_path: Path | None
    more_driving: list[VideoInfo] = field(default_factory=list)  # per face, after the first


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
    more_driving = [probe_driving(path, probe_video) for path in job.driving_per_face[1:]]
    source_video = source_video_info(job.sources, probe_video)
    check_edit(job, source_video)
    if job.driving_per_face and (source_video is not None or len(job.sources) > 1):
        raise InputError("--driving-per-face animates the faces of ONE source photo")
    images = [] if source_video is not None else [load_source(path) for path in job.sources]
    return PreparedJob(job, weights, driving, source_video, images, preview_path, more_driving)


def default_output(source: Path, driving: Path, overwrite: bool = False, folder: Path | None = None) -> Path:
    """The output when none is named: SOURCE--DRIVING.mp4 in the current folder; without
    `overwrite`, the first of SOURCE--DRIVING.1.mp4, .2.mp4 ... that does not exist yet."""
    folder = Path.cwd() if folder is None else folder
    stem = f"{source.stem}--{driving.stem}"
    path = folder / f"{stem}.mp4"
    number = 0
    while not overwrite and (path.exists() or path.is_symlink()):
        number += 1
        path = folder / f"{stem}.{number}.mp4"
    return path


def preview_path_for(output: Path) -> Path:
    """OUT.mp4 -> OUT.preview.mp4"""
    return output.with_name(f"{output.stem}.preview{output.suffix}")


def check_video_suffix(path: Path) -> None:
    from tiwcli.io.video import OUTPUT_VIDEO_SUFFIXES

    if path.suffix.lower() not in OUTPUT_VIDEO_SUFFIXES:
        raise InputError(f"{path}: output must be a video file ({', '.join(sorted(OUTPUT_VIDEO_SUFFIXES))})")


def check_edit(job: AnimationJob, source_video: VideoInfo | None) -> None:
    """One-line errors for `--edit` and `--audio` that do not fit the inputs."""
    if job.edit and (source_video is None or len(job.sources) != 1):
        raise InputError(f"{job.sources[0]}: --edit needs ONE source video to edit, not a photo")
    if job.edit and job.driving_per_face:
        raise InputError("--edit and --driving-per-face do not go together")
    if job.audio == "source" and not job.edit:
        raise InputError("--audio source needs --edit (a photo has no audio)")
    if job.audio is not None:
        check_choice(job.audio, AudioFrom, "audio")


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
