"""The Gradio page of `tiw app`, and its `/animate` API endpoint. The only module importing gradio.

Inputs as `tiw animate` takes them: a source photo (or one source video) and more photos of the
same person, a driving video (uploaded or recorded with the webcam), the main options. Jobs run in
Gradio's queue one at a time (one model in memory); a closed tab cancels its own job (`unload`).
Errors are the CLI's messages (TiwError) shown with gr.Error. The endpoint:

    Client(url).predict(handle_file(photo), {"video": handle_file(clip)}, api_name="/animate")

returns the result video; the preview and the summary line follow in a second, private step, so
that the endpoint's one output is the video.
"""

from __future__ import annotations

import contextvars
import threading
from pathlib import Path

import gradio as gr
from gradio.data_classes import FileData
from pydantic import ConfigDict, model_validator

from tiwcli.app.jobs import Animations, AppSettings, JobCancelledError, StageReport
from tiwcli.choices import MAX_MOUTH_SCALE, MOUTH_SCALE
from tiwcli.errors import MissingWeightsError, TiwError
from tiwcli.inference.options import AnimateOptions

PASTE_BACK = {"auto": None, "on": True, "off": False}  # the page's choice -> AnimateOptions.paste_back
INTRO = (
    "# tiw: animate a face\n"
    "A portrait photo (or several photos of one person, or a short video of them) and a driving video: "
    "the portrait moves like the face in the driving video."
)
# system fonts: the page loads nothing from the internet (it may run offline, on 127.0.0.1)
THEME_FONTS = {
    "font": ["ui-sans-serif", "system-ui", "sans-serif"],
    "font_mono": ["ui-monospace", "monospace"],
}


class _VideoPayload(FileData):
    """An uploaded video as Gradio 6 sends it (a file), or as Gradio 4 and 5 clients send a video,
    `{"video": file, "subtitles": None}`: the call the README documents works with either."""

    model_config = ConfigDict(title="FileData")  # the API's schema stays a plain file for clients

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, value: object) -> object:
        if isinstance(value, dict) and isinstance(value.get("video"), dict):
            return value["video"]
        return value


class _Sessions:
    """The cancel flag of each browser tab's running job, by Gradio session."""

    def __init__(self) -> None:
        self._flags: dict[str, threading.Event] = {}

    def start(self, session: str | None) -> threading.Event:
        flag = threading.Event()
        if session:
            self._flags[session] = flag
        return flag

    def finish(self, session: str | None) -> None:
        if session:
            self._flags.pop(session, None)

    def cancel(self, session: str | None) -> None:
        flag = self._flags.get(session or "")
        if flag is not None:
            flag.set()


def build_page(animations: Animations) -> gr.Blocks:
    sessions = _Sessions()
    with gr.Blocks(title="tiw app", analytics_enabled=False, delete_cache=(3600, 3600)) as page:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column():
                source = gr.File(
                    label="Source photo, or one source video", file_count="single", elem_id="source"
                )
                more_photos = gr.File(
                    label="More photos of the same person (optional)",
                    file_count="multiple",
                    elem_id="more-photos",
                )
                driving = gr.Video(
                    label="Driving video: upload one or record it",
                    sources=["upload", "webcam"],
                    elem_id="driving",
                )
                driving.data_model = _VideoPayload  # type: ignore[assignment]
                with gr.Accordion("Options", open=True):
                    mode = gr.Radio(
                        ["relative", "absolute"],
                        value="relative",
                        label="Motion",
                        info="relative: copy the driving motion onto the source's face; absolute: "
                        "use the driving face's keypoints as they are",
                    )
                    find_best_frame = gr.Checkbox(
                        False,
                        label="Find best frame",
                        info="relative motion from the driving frame most like the source (an extra pass)",
                    )
                    crop = gr.Checkbox(True, label="Crop the face", info="off: the inputs as they are")
                    paste_back = gr.Radio(
                        list(PASTE_BACK),
                        value="auto",
                        label="Paste back",
                        info="the animated face back into the whole photo (auto: for one large photo)",
                    )
                    sources_from_video = gr.Slider(
                        1, 8, value=3, step=1, label="With a source video: frames to use as sources"
                    )
                    mouth_interior = gr.Radio(
                        ["driver", "warp"],
                        value="driver",
                        label="Mouth interior",
                        info="where the driver's mouth opens wider than the photo's: driver paints the "
                        "driver's teeth in; warp leaves the photo's lips stretched over the opening",
                    )
                    mouth_scale = gr.Slider(
                        0,
                        MAX_MOUTH_SCALE,
                        value=MOUTH_SCALE,
                        step=0.05,
                        label="Mouth opening",
                        info="how far the photo's mouth opens for the driver's opening: 1 as far as the "
                        "driver's landmarks, more opens it wider",
                    )
                button = gr.Button("Animate", variant="primary", elem_id="animate")
            with gr.Column():
                result = gr.Video(label="Result", interactive=False, buttons=["download"], elem_id="result")
                preview = gr.Video(
                    label="Side by side: sources | driving | result",
                    interactive=False,
                    buttons=["download"],
                    elem_id="preview",
                )
                summary = gr.Markdown(elem_id="summary")
        rows = example_rows()
        if rows:
            gr.Examples(rows, inputs=[source, driving], label="Examples: one click to fill the inputs")
        details = gr.State()

        def animate(  # the API's parameters: the inputs below, in order; optional from `more` on
            request: gr.Request,
            source_path: str | None,
            driving_path: str | None,
            more: list[str] | None = None,
            motion: str = "relative",
            best_frame: bool = False,
            crop_face: bool = True,
            paste: str = "auto",
            frames_from_video: float = 3,
            mouth: str = "driver",
            opening: float = MOUTH_SCALE,
            progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's way to ask for a progress bar)
        ) -> tuple[str, dict[str, str]]:
            if not source_path:
                raise gr.Error("add a source photo (or a source video) first", duration=None)
            if not driving_path:
                raise gr.Error("add a driving video first (upload one, or record it)", duration=None)
            sources = [Path(source_path), *(Path(path) for path in more or [])]
            session = getattr(request, "session_hash", None)
            cancelled = sessions.start(session)
            try:
                options = AnimateOptions(
                    mode=motion,  # type: ignore[arg-type]
                    find_best_frame=best_frame,
                    crop=crop_face,
                    paste_back=PASTE_BACK.get(paste),
                    num_sources=int(frames_from_video),
                    mouth_interior=mouth,  # type: ignore[arg-type]
                    mouth_scale=float(opening),
                )
                done = animations.run(sources, Path(driving_path), options, _reporter(progress), cancelled)
            except TiwError as error:
                raise gr.Error(str(error), duration=None, print_exception=False) from None
            except JobCancelledError as error:
                raise gr.Error(str(error), print_exception=False) from None
            finally:
                sessions.finish(session)
            if done.warning:
                gr.Warning(done.warning)
            return str(done.video), {"preview": str(done.preview), "summary": done.summary}

        def show_details(job: dict[str, str] | None) -> tuple[str | None, str]:
            return (job["preview"], job["summary"]) if job else (None, "")

        def cancel_on_close(request: gr.Request) -> None:
            sessions.cancel(getattr(request, "session_hash", None))

        inputs = [
            source, driving, more_photos, mode, find_best_frame, crop, paste_back, sources_from_video,
            mouth_interior, mouth_scale,
        ]  # fmt: skip
        button.click(animate, inputs, [result, details], api_name="animate", concurrency_limit=1).success(
            show_details, details, [preview, summary], api_visibility="private"
        )
        page.unload(cancel_on_close)
    return page


def example_rows() -> list[list[str]]:
    """[source, driving] pairs: the demo inputs of `make sample-data` when they are in the current
    folder, then the packaged sample clips (those installed)."""
    from tiwcli.samples import sample_file

    rows = []
    demo = [Path("samples/source.jpg"), Path("samples/driving.mp4")]
    if all(path.is_file() for path in demo):
        rows.append([str(path.resolve()) for path in demo])
    for source, driving in [
        ("single_face.jpg", "carphone_pristine.mp4"),
        ("single_face.mp4", "carphone_pristine.mp4"),
    ]:
        try:
            rows.append([str(sample_file(source)), str(sample_file(driving))])
        except MissingWeightsError:
            continue
    return rows


def _reporter(progress: gr.Progress) -> StageReport:
    """Progress per stage for the page's bar. The Animator reports from background threads too
    (face tracking), where Gradio's context (which job this bar belongs to) is not set: each call
    runs in a copy of the job thread's context."""
    context = contextvars.copy_context()

    def report(stage: str, done: int, total: int | None) -> None:
        context.copy().run(progress, (done, total), desc=stage, unit="frames")

    return report


def serve(settings: AppSettings, host: str, port: int, share: bool) -> None:
    """Start the page and block until Ctrl-C."""
    page = build_page(Animations(settings))
    page.queue(default_concurrency_limit=1)
    page.launch(
        server_name=host,
        server_port=port,
        share=share,
        max_file_size=f"{settings.max_upload_mb}mb",
        theme=gr.themes.Default(**THEME_FONTS),  # type: ignore[arg-type]
        show_error=False,  # unexpected errors stay in the terminal; TiwError messages are shown
        footer_links=["api"],
    )
