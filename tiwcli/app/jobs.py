"""One animation for the web page: uploaded files in, the result and its preview out.

Thin over `tiw animate`'s library calls (tiwcli.inference.jobs): `prepare_job` checks the inputs
with the CLI's own messages, `run_job` animates and writes. What is the app's own: the model and
face analyzer stay loaded between jobs, driving videos longer than a limit are refused before any
work, progress is reported per stage, and a cancel flag (set when the browser tab closes) stops a
job between batches; the writers then remove their temporary files, as on Ctrl-C.

No gradio here: page.py adapts these calls to the page.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tiwcli.errors import InputError, TiwError

if TYPE_CHECKING:
    from tiwcli.faces.backends import FaceAnalyzer
    from tiwcli.inference.jobs import PreparedJob
    from tiwcli.inference.options import AnimateOptions, AnimationSummary
    from tiwcli.models import ImplicitWarping

# (stage, frames done in that stage so far, the stage's total in frames or None when unknown)
StageReport = Callable[[str, int, "int | None"], None]

NAME_STEM_CHARS = 40  # an uploaded file's stem is cut to this in output names (file-name limits)


@dataclass(frozen=True)
class AppSettings:
    weights: Path | None = None  # None: $TIW_WEIGHTS or the shipped default, as `tiw animate`
    max_upload_mb: int = 200  # Gradio refuses bigger uploads before they reach a job
    max_seconds: float = 120.0  # longer driving videos are refused before any work
    keep_jobs: int = 8  # results of older jobs are deleted from the output folder


@dataclass(frozen=True)
class AppResult:
    video: Path
    preview: Path
    summary: str  # one line: frames, size, length, speed
    warning: str | None  # e.g. two source photos of different people


class JobCancelledError(Exception):
    """The page that started the job was closed: nobody is waiting for the result."""


class Animations:
    """The app's worker: one model and face analyzer loaded once, reused by every job."""

    def __init__(self, settings: AppSettings, output_folder: Path | None = None) -> None:
        self.settings = settings
        self.output_folder = output_folder or Path(tempfile.mkdtemp(prefix="tiw-app-"))
        self._loaded: dict[tuple[Path, bool, str], tuple[ImplicitWarping, FaceAnalyzer | None]] = {}
        self._jobs_done = 0
        self._lock = threading.Lock()  # Gradio's queue runs one job at a time; this makes it certain

    def run(
        self,
        sources: list[Path],
        driving: Path,
        options: AnimateOptions,
        report: StageReport | None = None,
        cancelled: threading.Event | None = None,
    ) -> AppResult:
        """Animate `sources` (photos, or one video) with `driving`: the CLI's checks and pipeline.
        Raises TiwError with the CLI's message (paths shortened to file names) or JobCancelledError."""
        from tiwcli.inference.jobs import AnimationJob, prepare_job, run_job

        with self._lock:
            folder = self._job_folder()
            output = folder / f"{_stem(sources[0])}_{_stem(driving)}.mp4"
            job = AnimationJob(list(sources), driving, output, self.settings.weights, preview=True)
            try:
                prepared = prepare_job(job)
                self._check_length(prepared)
                model, analyzer = self._model_and_faces(prepared.weights, options)
                progress = _Progress(prepared, report, cancelled)
                summary = run_job(prepared, model, options, analyzer, progress)
            except TiwError as error:
                raise type(error)(short_paths(str(error), [*sources, driving])) from None
            assert prepared.preview_path is not None
            warning = _different_people(prepared, analyzer)
            return AppResult(output, prepared.preview_path, summary_line(summary, prepared), warning)

    def _check_length(self, prepared: PreparedJob) -> None:
        driving = prepared.driving
        seconds = driving.num_frames / float(driving.fps) if driving.fps else 0.0
        if seconds > self.settings.max_seconds:
            raise InputError(
                f"{driving.path}: driving video is {seconds:.0f} s long, over this app's limit of "
                f"{self.settings.max_seconds:g} s (`tiw app --max-seconds`, or `tiw animate` has none)"
            )

    def _model_and_faces(
        self, weights: Path, options: AnimateOptions
    ) -> tuple[ImplicitWarping, FaceAnalyzer | None]:
        from tiwcli.inference.jobs import load_model_and_faces

        key = (weights, options.crop, options.face_backend)
        if key not in self._loaded:
            self._loaded.clear()  # one model in memory at a time
            self._loaded[key] = load_model_and_faces(weights, options)
        return self._loaded[key]

    def _job_folder(self) -> Path:
        """A fresh folder per job; the oldest are removed beyond `keep_jobs` (Gradio has copied
        their files into its own cache by then)."""
        self._jobs_done += 1
        folder = self.output_folder / f"job-{self._jobs_done:05d}"
        folder.mkdir(parents=True)
        old = sorted(self.output_folder.glob("job-*"))[: -self.settings.keep_jobs]
        for path in old:
            shutil.rmtree(path, ignore_errors=True)
        return folder


class _Progress:
    """The Animator's progress callback: frames per stage, with the stage's total when known.

    Tracking stages run on a background thread; the cancel flag is checked on the job's own
    thread only, so that JobCancelledError unwinds the job (and its writers) like Ctrl-C does."""

    def __init__(
        self, prepared: PreparedJob, report: StageReport | None, cancelled: threading.Event | None
    ) -> None:
        from tiwcli.inference import options as stages

        driving = prepared.driving.num_frames or None
        source = (prepared.source_video.num_frames or None) if prepared.source_video else None
        self.totals = {
            stages.STAGE_TRACKING: driving,
            stages.STAGE_REFERENCE: driving,
            stages.STAGE_ANIMATING: driving,
            stages.STAGE_TRACKING_SOURCE: source,
            stages.STAGE_SOURCES: source,
        }
        self.done: dict[str, int] = {}
        self.report = report
        self.cancelled = cancelled
        self.job_thread = threading.get_ident()

    def __call__(self, stage: str, frames: int) -> None:
        self.done[stage] = self.done.get(stage, 0) + frames
        on_job_thread = threading.get_ident() == self.job_thread
        if on_job_thread and self.cancelled is not None and self.cancelled.is_set():
            raise JobCancelledError("the page that started this job was closed")
        if self.report is not None:
            self.report(stage, self.done[stage], self.totals.get(stage))


def short_paths(message: str, paths: list[Path]) -> str:
    """The CLI's message with each uploaded file's path (a folder in Gradio's cache) cut to its
    name: `photo.txt: not a readable image`, as a user knows the file."""
    for path in sorted(paths, key=lambda path: len(str(path)), reverse=True):
        message = message.replace(str(path), path.name)
    return message


def summary_line(summary: AnimationSummary, prepared: PreparedJob) -> str:
    """`tiw animate`'s summary, shortened for the page."""
    width, height = summary.output_size
    fps = float(prepared.driving.fps)
    seconds = summary.video_seconds or summary.frames / fps
    parts = [
        f"{summary.frames} frames, {width // 2 * 2}x{height // 2 * 2}, {seconds:.1f} s at {fps:g} fps",
        f"{summary.frames_per_second:.1f} frames/s ({summary.seconds:.1f} s)",
    ]
    if prepared.source_video is not None:
        parts.append(f"source frames {', '.join(str(index) for index in summary.sources_used)}")
    if summary.reference_frame:
        parts.append(f"motion measured from driving frame {summary.reference_frame}")
    if summary.frames_without_face:
        parts.append(f"{summary.frames_without_face} frames without a face (kept the last crop)")
    return "; ".join(parts)


def _different_people(prepared: PreparedJob, analyzer: FaceAnalyzer | None) -> str | None:
    from tiwcli.inference.jobs import different_people_warning

    warning = different_people_warning(prepared, analyzer)
    return None if warning is None else short_paths(warning, prepared.job.sources)


def _stem(path: Path) -> str:
    return path.stem[:NAME_STEM_CHARS] or "input"
