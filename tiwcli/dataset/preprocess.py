"""Raw videos -> a training dataset of square face clips (what `tiw train` reads).

Layout of OUT_DIR:
    train/*.mp4, test/*.mp4   square face clips, `size` px, H.264
    manifest.json             every clip (source, split, frames, times, crop box, face stats),
                              every source video done or skipped (with the reason)

Per video: pass 1 tracks the face in every frame (`faces.track_faces`, O(t) memory);
the frames with a face are cut into segments (a face lost, or the raw crop jumping by
more than `max_jump` of its size between frames, e.g. a scene cut, ends a segment);
segments shorter than `min_frames` are dropped and long ones split every `max_frames`;
each segment's crop boxes are smoothed on their own. Pass 2 decodes again and writes
every frame of a segment cropped with its box.

Beside each clip, CLIP.landmarks.npy holds the detector's 68 landmarks of every frame,
(f, 68, 2) float32 x, y in the crop's [-1, 1] coordinates (NaN where no face was found):
training ties some keypoints to them (landmark guidance).

Split: by SOURCE VIDEO (= identity), never by frame, so no test face is seen in training.
A video is in test when a hash of its file name falls below `test_fraction`, or when
named in `test_videos`; when that leaves test empty at the end of a run and two or more
videos gave clips, the one with the lowest hash is moved to test, so a tiny dataset
always has a test split (a later run may add more test videos, never moves them back).

Resumable: a source already in the manifest (done or skipped) is not redone; the
manifest is rewritten atomically after each source. A video that cannot be read or
has no usable face is skipped with its reason and does not stop the run.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tiwcli.dataset.layout import landmarks_path
from tiwcli.dataset.manifest import read_manifest, write_manifest
from tiwcli.errors import InputError
from tiwcli.faces.backends import FaceAnalyzer
from tiwcli.faces.crop import CropBox, crop_face
from tiwcli.faces.track import FaceTrack, crop_jitter, smooth_crop_boxes, track_faces
from tiwcli.io.files import missing_reason
from tiwcli.io.video import VIDEO_SUFFIXES, VideoReader, VideoWriter


@dataclass(frozen=True)
class PreprocessOptions:
    size: int = 256  # side of the square face clips
    min_frames: int = 32  # shorter face segments are dropped
    max_frames: int | None = 300  # longer segments are split into clips of this many frames
    max_input_frames: int | None = None  # read at most this many frames of each input (quick trials)
    test_fraction: float = 0.1  # share of source videos (identities) in the test split
    test_videos: tuple[str, ...] = ()  # file names forced into the test split
    max_jump: float = 0.25  # cut where the raw crop centre moves more than this x its size in one frame
    backend: str = "auto"  # face analyzer backend: auto, fan, dlib
    crf: int = 18  # H.264 quality of the clips


@dataclass
class Segment:
    start: int  # first frame (inclusive)
    stop: int  # last frame + 1
    boxes: np.ndarray  # (stop - start, 3) smoothed cx, cy, size


@dataclass
class PreprocessSummary:
    clips_written: int = 0
    sources_done: int = 0
    sources_skipped: int = 0
    sources_already_done: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)


# -- finding inputs and splitting ---------------------------------------------------------


def find_videos(inputs: list[Path], exclude: Path | None = None) -> list[Path]:
    """Video files among `inputs` (files, or folders searched recursively), sorted, no duplicates."""
    found: dict[Path, None] = {}
    excluded = exclude.resolve() if exclude is not None else None
    for item in inputs:
        if not item.exists():
            raise InputError(f"{item}: {missing_reason(item, 'no such file or folder')}")
        if item.is_dir():
            candidates = sorted(
                p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
            )
        else:
            candidates = [item]  # a file named explicitly is tried whatever its suffix
        for path in candidates:
            resolved = path.resolve()
            if excluded is not None and resolved.is_relative_to(excluded):
                continue  # never re-read our own output clips
            found[resolved] = None
    if not found:
        raise InputError(f"no video files found in {', '.join(str(p) for p in inputs)}")
    return list(found)


def name_hash(name: str) -> float:
    """A stable number in [0, 1) from a file name (the split key)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") / 2**64


def assign_split(video: Path, options: PreprocessOptions) -> str:
    forced = video.name in options.test_videos
    return "test" if forced or name_hash(video.name) < options.test_fraction else "train"


def ensure_test_split(out_dir: Path, manifest: dict[str, Any], options: PreprocessOptions) -> str | None:
    """With 2+ usable videos and none in test, move the one with the lowest hash there; returns it."""
    done = {source: entry for source, entry in manifest["sources"].items() if entry["status"] == "done"}
    if options.test_fraction <= 0 or len(done) < 2 or any(e["split"] == "test" for e in done.values()):
        return None
    chosen = min(done, key=lambda source: name_hash(Path(source).name))
    (out_dir / "test").mkdir(exist_ok=True)
    for clip in manifest["clips"]:
        if clip["source"] == chosen:
            moved = Path("test") / Path(clip["file"]).name
            os.replace(out_dir / clip["file"], out_dir / moved)
            if (out_dir / landmarks_path(Path(clip["file"]))).exists():  # the clip's landmarks go with it
                os.replace(out_dir / landmarks_path(Path(clip["file"])), out_dir / landmarks_path(moved))
            clip["file"], clip["split"] = moved.as_posix(), "test"
    done[chosen]["split"] = "test"
    return chosen


# -- segments -------------------------------------------------------------------------------


def face_segments(track: FaceTrack, options: PreprocessOptions) -> list[Segment]:
    """Runs of frames with a face, cut at jumps, at least min_frames, split every max_frames."""
    raw = track.raw_boxes  # (t, 3), real detections where `found`
    moves = np.hypot(*np.diff(raw[:, :2], axis=0).T) / raw[1:, 2]  # (t - 1,)
    cut_after = np.concatenate([moves > options.max_jump, [True]])  # a segment may end after frame i
    segments = []
    start = None
    for index in range(len(track.found)):
        if track.found[index] and start is None:
            start = index
        if start is not None and (not track.found[index] or cut_after[index]):
            stop = index + 1 if track.found[index] else index
            segments.extend(_split_long(start, stop, raw, options))
            start = None
    return segments


def _split_long(start: int, stop: int, raw: np.ndarray, options: PreprocessOptions) -> Iterator[Segment]:
    length = options.max_frames or (stop - start)
    for begin in range(start, stop, length):
        end = min(begin + length, stop)
        if end - begin >= options.min_frames:
            yield Segment(begin, end, smooth_crop_boxes(raw[begin:end]))


# -- one video --------------------------------------------------------------------------------


def _frames(path: Path, limit: int | None, on_frame: Callable[[], None]) -> Iterator[np.ndarray]:
    with VideoReader(path) as reader:
        for frame in itertools.islice(reader.frames(), limit):
            on_frame()
            yield frame


def clip_name(source: Path, index: int) -> str:
    """Unique per source path (two `clip.mp4` in different folders do not collide)."""
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:8]
    return f"{source.stem}_{digest}_{index:03d}.mp4"


def process_video(
    source: Path,
    split: str,
    out_dir: Path,
    options: PreprocessOptions,
    analyzer: FaceAnalyzer,
    on_frame: Callable[[], None] = lambda: None,
) -> list[dict[str, Any]]:
    """Track, cut and write the face clips of one video; returns their manifest records."""
    with VideoReader(source) as reader:
        fps = reader.info.fps
    track = track_faces(_frames(source, options.max_input_frames, on_frame), analyzer, name=source.name)
    segments = face_segments(track, options)
    if not segments:
        longest = _longest_run(track.found)
        raise InputError(
            f"{source.name}: no face segment of {options.min_frames}+ frames (longest run of frames "
            f"with a face: {longest}, faces in {track.found.mean():.0%} of {track.num_frames} frames)"
        )
    (out_dir / split).mkdir(parents=True, exist_ok=True)
    records = []
    frames = _frames(source, options.max_input_frames, on_frame)
    position = 0
    for index, segment in enumerate(segments):
        relative = Path(split) / clip_name(source, index)
        with VideoWriter(out_dir / relative, fps, crf=options.crf, overwrite=True) as writer:
            for frame in frames:
                position += 1
                if position - 1 < segment.start:
                    continue
                writer.write(
                    crop_face(
                        frame, CropBox.from_array(segment.boxes[position - 1 - segment.start]), options.size
                    )
                )
                if position == segment.stop:
                    break
        if track.landmarks is not None:
            landmarks = crop_landmarks(track.landmarks[segment.start : segment.stop], segment.boxes)
            np.save(out_dir / landmarks_path(relative), landmarks)
        records.append(_clip_record(relative, source, split, segment, track, float(fps)))
    for _ in frames:  # count the rest for the progress bar
        pass
    return records


def crop_landmarks(landmarks: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(f, 68, 2) frame-pixel landmarks and (f, 3) crop boxes (cx, cy, size) -> (f, 68, 2) float32
    in each crop's [-1, 1] coordinates (the model's keypoint convention); NaN rows stay NaN."""
    corner = boxes[:, None, :2] - boxes[:, None, 2:] / 2  # (f, 1, 2) top-left of each crop
    return ((landmarks - corner) / boxes[:, None, 2:] * 2 - 1).astype(np.float32)


def _clip_record(
    relative: Path, source: Path, split: str, segment: Segment, track: FaceTrack, fps: float
) -> dict[str, Any]:
    face_boxes = track.face_boxes[segment.start : segment.stop]  # (f, 4)
    face_widths = face_boxes[:, 2] - face_boxes[:, 0]
    mean_box = segment.boxes.mean(axis=0)
    return {
        "file": relative.as_posix(),
        "source": str(source),
        "split": split,
        "start_frame": segment.start,
        "end_frame": segment.stop,  # exclusive
        "num_frames": segment.stop - segment.start,
        "start_time": round(segment.start / fps, 4),
        "end_time": round(segment.stop / fps, 4),
        "fps": fps,
        # mean crop square in source pixels; per-frame boxes vary (smoothed track)
        "crop_box": {
            "center_x": float(mean_box[0]),
            "center_y": float(mean_box[1]),
            "size": float(mean_box[2]),
        },
        "face_found_fraction": float(track.found[segment.start : segment.stop].mean()),
        "mean_face_width": float(np.nanmean(face_widths)),  # detector box, source pixels
        "face_to_crop_ratio": float(np.nanmean(face_widths) / mean_box[2]),
        "crop_jitter": crop_jitter(segment.boxes),
    }


def _longest_run(found: np.ndarray) -> int:
    longest = current = 0
    for value in found:
        current = current + 1 if value else 0
        longest = max(longest, current)
    return longest


# -- the whole run ---------------------------------------------------------------------------------


def preprocess(
    inputs: list[Path],
    out_dir: Path,
    options: PreprocessOptions,
    analyzer: FaceAnalyzer,
    on_source: Callable[[Path, int], None] = lambda path, frames: None,
    on_frame: Callable[[], None] = lambda: None,
) -> PreprocessSummary:
    """Build or extend the dataset in `out_dir`. Raises InputError when it holds no clip at the end."""
    videos = find_videos(inputs, exclude=out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out_dir, options.size)
    manifest["options"] = {k: v for k, v in asdict(options).items() if k != "backend"} | {
        "backend": analyzer.name
    }
    summary = PreprocessSummary()
    for video in videos:
        key = str(video)
        if key in manifest["sources"]:
            summary.sources_already_done += 1
            continue
        on_source(video, _frame_budget(video, options))
        try:
            split = assign_split(video, options)
            records = process_video(video, split, out_dir, options, analyzer, on_frame)
        except InputError as error:
            reason = str(error)
            manifest["skipped"].append({"source": key, "reason": reason})
            manifest["sources"][key] = {"status": "skipped", "reason": reason}
            summary.sources_skipped += 1
            summary.skipped.append({"source": key, "reason": reason})
        else:
            manifest["clips"].extend(records)
            manifest["sources"][key] = {"status": "done", "split": split, "clips": len(records)}
            summary.sources_done += 1
            summary.clips_written += len(records)
        write_manifest(out_dir, manifest)
    if ensure_test_split(out_dir, manifest, options) is not None:
        write_manifest(out_dir, manifest)
    if not manifest["clips"]:
        first = manifest["skipped"][0]["reason"] if manifest["skipped"] else "no usable input"
        raise InputError(f"no face clips made from {len(videos)} input(s): {first}")
    return summary


def _frame_budget(video: Path, options: PreprocessOptions) -> int:
    """Frames the progress bar will count for one video (two passes), 0 when unknown."""
    try:
        with VideoReader(video) as reader:
            frames = reader.info.num_frames
    except InputError:
        return 0
    if options.max_input_frames is not None:
        frames = min(frames, options.max_input_frames)
    return 2 * frames
