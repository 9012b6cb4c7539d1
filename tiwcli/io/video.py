"""Streaming video I/O through PyAV: constant memory for any length.

`VideoReader` decodes frames one at a time (RGB uint8, display rotation applied).
`VideoWriter` encodes H.264 into a temporary file beside the target, copies the
audio of another file across, and renames into place only when the `with` block
ends without an error and the flush and close succeeded, so a failure, a full disk
or Ctrl-C never leaves a half-written output. Write failures (open, encode, flush,
close, rename) become one-line `OutputError`s, and the temporary file is removed.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import av.error
import numpy as np

from tiwcli.errors import InputError
from tiwcli.io.audio import AudioCopier
from tiwcli.io.files import (
    check_name_length,
    check_writable_folder,
    missing_reason,
    move_into_place,
    remove_stale_temporaries,
    temporary_sibling,
    write_error,
)

# containers read as videos (datasets, `tiw preprocess` inputs, `tiw eval --pred/--real`)
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg"})
# containers `VideoWriter` writes H.264 (+ AAC) into
OUTPUT_VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".m4v"})


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int  # after rotation
    height: int  # after rotation
    fps: Fraction
    num_frames: int  # from the container; an estimate when it does not say
    rotation: int  # counter-clockwise degrees applied to decoded frames
    has_audio: bool


def _open_input(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise InputError(f"{path}: {missing_reason(path)}")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise InputError(f"{path}: not a readable video ({error.__class__.__name__})") from None


# undecodable packets skipped before a video is called corrupt (when they outnumber good frames)
MAX_SKIPPED_PACKETS = 8
_notes_printed: set[str] = set()


def _note_once(message: str) -> None:
    """A note on stderr, once per process (a driving video is read more than once per run)."""
    if message not in _notes_printed:
        _notes_printed.add(message)
        print(f"note: {message}", file=sys.stderr)


def rotate_frame(frame: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a decoded frame counter-clockwise by `rotation` degrees (a multiple of 90)."""
    turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(frame, k=turns)) if turns else frame


class VideoReader:
    """Decode a video frame by frame. Use as a context manager."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._container = _open_input(self.path)
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"{self.path}: has no video stream")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._stream = stream
        fps = stream.average_rate or stream.guessed_rate or Fraction(25)
        num_frames = stream.frames
        if not num_frames and stream.duration and stream.time_base:
            num_frames = round(float(stream.duration * stream.time_base * fps))
        self._decoded = self._decode()
        self._first = next(self._decoded, None)
        if self._first is None:
            self._container.close()
            raise InputError(f"{self.path}: video has no frames")
        rotation = int(getattr(self._first, "rotation", 0) or 0)
        width, height = stream.codec_context.width, stream.codec_context.height
        if rotation % 180:
            width, height = height, width
        self.info = VideoInfo(
            path=self.path,
            width=width,
            height=height,
            fps=Fraction(fps),
            num_frames=int(num_frames or 0),
            rotation=rotation,
            has_audio=bool(self._container.streams.audio),
        )

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Decode packet by packet: an undecodable packet among good ones (a bad sector, a cut in a
        download) is skipped with a note, like a video player does; mostly bad data is an error."""
        decoded = skipped = 0
        try:
            for packet in self._container.demux(self._stream):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError as error:
                    skipped += 1
                    if skipped > MAX_SKIPPED_PACKETS and skipped > decoded:
                        raise InputError(
                            f"{self.path}: corrupt video data ({error.__class__.__name__})"
                        ) from None
                    continue
                decoded += len(frames)
                yield from frames
        except av.error.FFmpegError as error:
            raise InputError(f"{self.path}: corrupt video data ({error.__class__.__name__})") from None
        if skipped:
            _note_once(f"{self.path}: skipped {skipped} undecodable packet(s) of corrupt video data")

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def frames(self) -> Iterator[np.ndarray]:
        """Yield (H, W, 3) uint8 RGB frames, display rotation applied. Readable once."""
        if self._first is None:
            raise InputError(f"{self.path}: frames() can only be read once")
        first, self._first = self._first, None
        for frame in itertools.chain([first], self._decoded):
            image = frame.to_ndarray(format="rgb24")
            yield rotate_frame(image, int(getattr(frame, "rotation", 0) or 0))

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Yield (b, H, W, 3) uint8 batches of at most `batch_size` frames."""
        batch: list[np.ndarray] = []
        for frame in self.frames():
            batch.append(frame)
            if len(batch) == batch_size:
                yield np.stack(batch)
                batch = []
        if batch:
            yield np.stack(batch)


def probe_video(path: Path | str) -> VideoInfo:
    with VideoReader(path) as reader:
        return reader.info


def read_all_frames(path: Path | str, max_frames: int | None = None) -> np.ndarray:
    """Decode a short clip into memory: (t, H, W, 3) uint8. For dataset clips, not user videos."""
    frames = []
    with VideoReader(path) as reader:
        for frame in reader.frames():
            frames.append(frame)
            if max_frames is not None and len(frames) >= max_frames:
                break
    return np.stack(frames)


@dataclass(frozen=True)
class FrameTimes:
    """When each frame of a video is shown: `pts[i]` ticks of `time_base` after the first frame.

    A variable-frame-rate clip (most phone videos) keeps its timing and its length through these,
    where frame number / fps would squeeze it (and cut its audio)."""

    pts: tuple[int, ...]  # sorted, starting at 0
    time_base: Fraction

    def span(self, index: int, fps: Fraction) -> tuple[Fraction, Fraction]:
        """(start, end) of frame `index` in seconds; past the known frames, one 1/fps apart."""
        count = len(self.pts)
        if index < count:
            start = self.pts[index] * self.time_base
        else:
            start = self.pts[-1] * self.time_base + (index - count + 1) / fps
        if index + 1 < count:
            return start, self.pts[index + 1] * self.time_base
        last = (self.pts[-1] - self.pts[-2]) * self.time_base if count >= 2 else 1 / fps
        return start, start + (last if index == count - 1 and last > 0 else 1 / fps)


def frame_times(path: Path | str) -> FrameTimes | None:
    """The presentation times of a video's frames, read from its packets (no decoding); None when
    the container does not give every packet a timestamp (old AVI files)."""
    with _open_input(Path(path)) as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        pts = []
        try:
            for packet in container.demux(stream):
                if packet.size:  # the empty packet at the end flushes the decoder
                    if packet.pts is None:
                        return None
                    pts.append(packet.pts)
        except av.error.FFmpegError:
            pass  # the decoder reports corrupt data; the times read so far are still right
        if not pts or stream.time_base is None:
            return None
        pts.sort()
        return FrameTimes(tuple(value - pts[0] for value in pts), Fraction(stream.time_base))


def check_output_path(path: Path, overwrite: bool) -> None:
    """`path` may be written: not there (or `overwrite`), not a folder, in a writable folder."""
    check_name_length(path)
    if path.is_symlink() and not path.exists() and "loop" in missing_reason(path):
        raise InputError(f"{path}: {missing_reason(path)}")
    if path.exists() and not overwrite:
        raise InputError(f"{path}: already exists (pass --overwrite to replace it)")
    if not path.parent.exists():
        raise InputError(f"{path.parent}: output folder does not exist")
    if path.is_dir():
        raise InputError(f"{path}: is a folder")
    check_writable_folder(path.parent)


FILE_X264 = {"preset": "veryfast"}
REALTIME_X264 = {"preset": "ultrafast", "tune": "zerolatency"}


class VideoWriter:
    """Encode RGB frames to H.264 (+ the audio of `audio_from`), atomically. Context manager."""

    def __init__(
        self,
        path: Path | str,
        fps: Fraction | float,
        audio_from: Path | str | None = None,
        crf: int = 18,
        overwrite: bool = False,
        times: FrameTimes | None = None,
        realtime: bool = False,
    ) -> None:
        """`times`: each frame's time (a driving video's own timestamps); None: frame number / fps.
        `realtime`: x264 set for a live recording (REALTIME_X264: the fastest preset, no frame
        held back, one thread, so that the model keeps the other cores); else a file's
        (FILE_X264: veryfast, as many threads as libx264 likes)."""
        self.path = Path(path)
        check_output_path(self.path, overwrite)
        self.fps = Fraction(fps).limit_denominator(1001 * 1000)
        self.crf = crf
        self.realtime = realtime
        self.overwrite = overwrite
        self.audio_from = Path(audio_from) if audio_from is not None else None
        self.frames_written = 0
        self.times = times
        self.seconds = Fraction(0)  # the end of the last frame written
        self._time_base = times.time_base if times is not None else 1 / self.fps
        self._last_pts = -1
        self._temporary = temporary_sibling(self.path)
        self._container: av.container.OutputContainer | None = None
        self._video: av.video.stream.VideoStream | None = None
        self._audio: AudioCopier | None = None

    def __enter__(self) -> VideoWriter:
        remove_stale_temporaries(self.path.parent)
        try:
            self._container = av.open(str(self._temporary), mode="w")
        except (av.error.FFmpegError, OSError) as error:
            self._temporary.unlink(missing_ok=True)
            raise write_error(self.path, error) from None
        return self

    def _start_video(self, height: int, width: int) -> None:
        assert self._container is not None
        stream = self._container.add_stream("libx264", rate=self.fps)
        stream.codec_context.time_base = self._time_base
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(self.crf), **(REALTIME_X264 if self.realtime else FILE_X264)}
        if self.realtime:
            stream.codec_context.thread_count = 1
        else:
            stream.thread_type = "AUTO"
        self._video = stream
        if self.audio_from is not None:
            self._audio = AudioCopier.from_source(_open_input(self.audio_from), self._container)

    def write(self, frame: np.ndarray, start: Fraction | None = None) -> None:
        """Append one (H, W, 3) uint8 RGB frame. Odd sizes lose their last row/column (yuv420p).
        `start`: when it is shown, in seconds from the video's start (a live recording's frames
        come when the model has them: each is held until the next); None: by `times` or the fps."""
        height, width = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2
        if self._video is None:
            self._start_video(height, width)
        assert self._video is not None and self._container is not None
        if (height, width) != (self._video.height, self._video.width):
            raise InputError(f"frame size {width}x{height} differs from the video's")
        image = np.ascontiguousarray(frame[:height, :width])
        video_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        self._stamp(video_frame, start)
        try:
            for packet in self._video.encode(video_frame):
                self._container.mux(packet)
            self.frames_written += 1
            if self._audio is not None:
                self._audio.copy_until(self.seconds)
        except (av.error.FFmpegError, OSError) as error:  # a full disk, a vanished folder...
            raise write_error(self.path, error) from None

    def _stamp(self, frame: av.VideoFrame, at: Fraction | None = None) -> None:
        """Give the next frame its timestamp, and move `seconds` to its end."""
        if at is not None:
            start, end = Fraction(at), Fraction(at) + 1 / self.fps
        elif self.times is None:
            start, end = self.frames_written / self.fps, (self.frames_written + 1) / self.fps
        else:
            start, end = self.times.span(self.frames_written, self.fps)
        pts = max(round(start / self._time_base), self._last_pts + 1)  # strictly increasing
        frame.pts, frame.time_base = pts, self._time_base
        frame.duration = max(round(end / self._time_base) - pts, 1)
        self._last_pts = pts
        self.seconds = max(end, (pts + 1) * self._time_base)

    def write_batch(self, frames: np.ndarray) -> None:
        for frame in frames:
            self.write(frame)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Flush, close and rename into place, or (after an error anywhere) remove the temporary."""
        renamed = False
        try:
            try:
                if exc_type is None:
                    self._flush()
            finally:
                self._close()
            if exc_type is None:
                move_into_place(self._temporary, self.path, self.overwrite)
                renamed = True
        except (av.error.FFmpegError, OSError) as error:
            if exc_type is None:  # after another error, that one is the one to report
                raise write_error(self.path, error) from None
        finally:
            if not renamed:
                self._temporary.unlink(missing_ok=True)

    def _flush(self) -> None:
        """Drain the encoder and the rest of the audio (up to the video's end)."""
        assert self._container is not None
        if self._video is None:
            raise InputError(f"{self.path}: no frames to write")
        for packet in self._video.encode():
            self._container.mux(packet)
        if self._audio is not None:  # audio stops where the video does
            self._audio.copy_until(self.seconds, final=True)

    def _close(self) -> None:
        assert self._container is not None
        try:
            if self._audio is not None:
                self._audio.close()
        finally:
            self._container.close()
