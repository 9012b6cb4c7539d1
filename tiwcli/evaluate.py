"""`tiw eval`: the paper's evaluation protocols, tables and plots (no CLI, no printing).

Protocols
- reconstruction (`evaluate_dataset`): per test clip, N source frames (frame 0 for N = 1,
  else N frames evenly spread from the first to the last) and every other frame as driving
  frame (absolute mode: driving keypoints from the real frame). The driving frames are the
  same for every N (frames that are a source for ANY N are excluded), so rows compare.
- cross-identity (`evaluate_dataset(..., cross_identity=True)`): sources from one test clip,
  driving frames from a clip of ANOTHER PERSON (`clip_people`: clips of one source video are
  one person, and so are videos whose faces have the same identity embedding), chosen with a
  seeded random shift. No ground truth: AED against the source identity (frame 0 of the
  source clip), AKD/MKR against the DRIVING frames (so AKD also measures identity shape, as
  in the literature), FID/KID against the driving frames.
- pred vs real (`evaluate_videos`): videos made by any tool, matched by file stem.
Each protocol returns an `EvaluationReport`: rows of (method, number of sources) x metrics.
"""

from __future__ import annotations

import copy
import csv
import itertools
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from tiwcli.baselines import BASELINES, CopySource, DrivingFrames, LandmarkWarp, Method
from tiwcli.errors import InputError
from tiwcli.frames import frames_to_tensor, landmarks_to_tensor, resize_frames, tensor_to_frames
from tiwcli.metrics import METRICS, MetricValue, RowAccumulator, Scorer
from tiwcli.preprocess import landmarks_path
from tiwcli.video import VideoReader, probe_video, read_all_frames

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}
MAX_ASPECT_MISMATCH = 0.02  # --pred/--real: relative difference of aspect ratios still resized
FEW_FID_FRAMES = 50  # FID/KID on fewer frames per set get a warning: too noisy to mean much
MODEL_METHOD = "implicit-warping"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class EvalSettings:
    metrics: tuple[str, ...]
    num_sources: tuple[int, ...] = (1,)  # one table row per method and N
    baselines: tuple[str, ...] = BASELINES
    max_frames: int | None = None  # driving frames per clip (evenly spaced); None: all
    fid_frames: int = 500  # cap on frames per set for FID/KID (evenly spaced over clips)
    seed: int = 0  # KID subsets and cross-identity pairing
    batch_size: int = 8  # driving frames per model call
    face_backend: str = "auto"
    cross_identity: bool = False


@dataclass
class Row:
    method: str
    num_sources: int | None
    metrics: dict[str, MetricValue]


@dataclass
class EvaluationReport:
    mode: str  # "reconstruction", "cross-identity" or "videos"
    metrics: tuple[str, ...]
    rows: list[Row]
    unavailable: dict[str, str]  # metric -> why it could not run at all
    notes: list[str] = field(default_factory=list)
    settings: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "metrics": {
                name: {"label": METRICS[name].label, "higher_is_better": METRICS[name].higher_is_better}
                for name in self.metrics
            },
            "rows": [
                {
                    "method": row.method,
                    "num_sources": row.num_sources,
                    "metrics": {name: _json_value(value) for name, value in row.metrics.items()},
                }
                for row in self.rows
            ],
            "unavailable": self.unavailable,
            "notes": self.notes,
            "settings": self.settings,
        }

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["method", "num_sources", *self.metrics, *(f"{m}_frames" for m in self.metrics)])
            for row in self.rows:
                values = [row.metrics[m].value for m in self.metrics]
                writer.writerow(
                    [
                        row.method,
                        "" if row.num_sources is None else row.num_sources,
                        *("" if v is None else f"{v:.6g}" for v in values),
                        *(row.metrics[m].frames for m in self.metrics),
                    ]
                )


def _json_value(value: MetricValue) -> dict[str, object]:
    finite = value.value is not None and math.isfinite(value.value)
    entry: dict[str, object] = {"value": value.value if finite else None, "frames": value.frames}
    if value.note:
        entry["note"] = value.note
    if value.std is not None:
        entry["std"] = value.std
    return entry


# ---------------------------------------------------------------------------- frame plans


def source_indices(num_frames: int, num_sources: int) -> np.ndarray:
    """Frame 0 for one source; else `num_sources` frames evenly spread over the clip, first to last."""
    if num_sources == 1:
        return np.array([0])
    return np.unique(np.linspace(0, num_frames - 1, num_sources).round().astype(int))


def evenly_spaced(indices: np.ndarray, count: int | None) -> np.ndarray:
    """At most `count` of `indices`, evenly spaced (all of them when count is None or larger)."""
    if count is None or len(indices) <= count:
        return indices
    return indices[np.linspace(0, len(indices) - 1, count).round().astype(int)]


def driving_indices(num_frames: int, num_sources: Sequence[int], max_frames: int | None) -> np.ndarray:
    """Frames that are a source for no N, at most `max_frames` of them evenly spaced."""
    used = np.concatenate([source_indices(num_frames, n) for n in num_sources])
    return evenly_spaced(np.setdiff1d(np.arange(num_frames), used), max_frames)


def fid_mask_for(count: int, cap: int) -> np.ndarray:
    """(count,) bool choosing at most `cap` evenly spaced frames."""
    mask = np.zeros(count, bool)
    mask[evenly_spaced(np.arange(count), max(cap, 0))] = True
    return mask


# ---------------------------------------------------------------------------- methods


class ModelMethod:
    """The Implicit Warping model as a method: sources encoded once per clip, then absolute animation.
    A model with the landmark prior also gets the faces' 68 landmarks (the driving frames' from the
    scorer when it has them, else from `analyzer`; a frame without a face gets none)."""

    name = MODEL_METHOD

    def __init__(self, model: torch.nn.Module, analyzer: Callable[[], object] | None = None) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.analyzer = analyzer if model.config.uses_landmarks else None

    def _landmarks(
        self, frames: np.ndarray, known: Sequence[np.ndarray | None] | None = None
    ) -> torch.Tensor:
        """(b, H, W, 3) frames -> (b, 68, 2) landmarks in [-1, 1], NaN where no face is found."""
        if known is None:
            analyzer = self.analyzer()
            known = [faces[0].landmarks if (faces := analyzer.detect(frame)) else None for frame in frames]
        return landmarks_to_tensor(known, frames.shape[1], frames.shape[2], self.device)

    def prepare(
        self,
        sources: np.ndarray,
        source_times: np.ndarray,
        source_landmarks: list[np.ndarray | None] | None = None,
    ) -> None:
        landmarks = None
        if self.analyzer is not None:
            landmarks = self._landmarks(sources, source_landmarks)[None]  # (1, n, 68, 2)
        with torch.inference_mode():
            self.encoding = self.model.encode_sources(frames_to_tensor(sources[None], self.device), landmarks)

    def render(self, driving: DrivingFrames) -> np.ndarray:
        landmarks = None
        if self.analyzer is not None:
            landmarks = self._landmarks(driving.frames, driving.landmarks)
        with torch.inference_mode():
            frames = frames_to_tensor(driving.frames, self.device)  # (b, 3, H, W)
            images = self.model.animate(self.encoding, self.model.keypoint_detector(frames), landmarks)
        return tensor_to_frames(images)


def build_methods(model: torch.nn.Module | None, baselines: Sequence[str], scorer: Scorer) -> list[Method]:
    methods: list[Method] = [] if model is None else [ModelMethod(model, scorer.analyzer)]
    for name in baselines:
        if name == "copy-source":
            methods.append(CopySource())
        elif name == "landmark-warp":
            methods.append(LandmarkWarp(scorer.analyzer()))
        else:
            raise InputError(f"unknown baseline {name!r}: choose from {', '.join(BASELINES)}")
    return methods


# ---------------------------------------------------------------------------- protocols


def _new_scorer(settings: EvalSettings, ground_truth: bool) -> Scorer:
    return Scorer(settings.metrics, settings.face_backend, ground_truth=ground_truth, seed=settings.seed)


def _report(
    mode: str,
    settings: EvalSettings,
    scorer: Scorer,
    rows: dict[tuple[str, int | None], RowAccumulator],
    notes: list[str],
    extra: dict[str, object],
) -> EvaluationReport:
    result_rows = [Row(method, n, scorer.result(row)) for (method, n), row in rows.items()]
    if scorer.face_analyzer is not None:  # which landmark/identity backend, and why (auto)
        notes.append(getattr(scorer.face_analyzer, "note", "") or f"faces: using {scorer.face_backend_name}")
    frames = {key: row.frames for key, row in rows.items()}
    notes.append(f"frames scored per row: {max(frames.values(), default=0)}")
    notes.extend(_few_fid_frames_warning(result_rows))
    return EvaluationReport(
        mode=mode,
        metrics=settings.metrics,
        rows=result_rows,
        unavailable=dict(scorer.unavailable),
        notes=notes,
        settings={**asdict(settings), **extra, "face_backend_used": scorer.face_backend_name},
    )


def _few_fid_frames_warning(rows: Sequence[Row]) -> list[str]:
    """A warning when FID or KID were computed on fewer than FEW_FID_FRAMES frames."""
    counts = [
        row.metrics[name].frames
        for row in rows
        for name in ("fid", "kid")
        if name in row.metrics and row.metrics[name].value is not None
    ]
    if not counts or min(counts) >= FEW_FID_FRAMES:
        return []
    return [
        f"warning: FID/KID computed on {min(counts)} frames, fewer than {FEW_FID_FRAMES}: far too few "
        "for a meaningful value (FID is biased upward, KID noisy); evaluate more frames or clips"
    ]


def _batches(count: int, size: int) -> Iterator[slice]:
    for start in range(0, count, size):
        yield slice(start, min(start + size, count))


def evaluate_dataset(
    clips: Sequence[Path],
    model: torch.nn.Module | None,
    settings: EvalSettings,
    image_size: int | None = None,
    progress: Progress | None = None,
) -> EvaluationReport:
    """Reconstruction (or cross-identity) on dataset clips; frames are resized to `image_size`
    (the model's) when they differ."""
    if model is not None:
        image_size = model.config.image_size
    if image_size is None:
        raise InputError("evaluate_dataset needs a model or an image size")
    if settings.cross_identity and len(clips) < 2:
        raise InputError("cross-identity evaluation needs at least 2 clips")
    scorer = _new_scorer(settings, ground_truth=not settings.cross_identity)
    methods = build_methods(model, settings.baselines, scorer)
    rows = {(m.name, n): RowAccumulator() for m in methods for n in settings.num_sources}
    notes: list[str] = []
    fid_cap = math.ceil(settings.fid_frames / len(clips))
    people = clip_people(clips, _identity_analyzer(scorer)) if settings.cross_identity else None
    pairs = _clip_pairs(len(clips), settings, people)
    for clip_index, (source_clip, driving_clip) in enumerate(pairs):
        if progress is not None:
            names = [clips[source_clip].name] + (
                [clips[driving_clip].name] if settings.cross_identity else []
            )
            progress(f"clip {clip_index + 1}/{len(pairs)}: {' -> '.join(names)}")
        frames = resize_frames(read_all_frames(clips[source_clip]), image_size, image_size)
        if settings.cross_identity:
            driving_frames = resize_frames(read_all_frames(clips[driving_clip]), image_size, image_size)
            times = evenly_spaced(np.arange(len(driving_frames)), settings.max_frames)
        elif len(frames) <= max(settings.num_sources):
            notes.append(f"skipped {clips[source_clip].name}: {len(frames)} frames, too short")
            continue
        else:
            driving_frames = frames
            times = driving_indices(len(frames), settings.num_sources, settings.max_frames)
        stored = stored_landmarks(clips[source_clip], len(frames), image_size)
        driving_stored = stored if not settings.cross_identity else None
        if settings.cross_identity:
            driving_stored = stored_landmarks(clips[driving_clip], len(driving_frames), image_size)
        prepared: dict[tuple[str, int], Method] = {}  # methods are stateful: one copy per (method, N)
        for n in settings.num_sources:
            chosen = source_indices(len(frames), n)
            for method in methods:
                prepared[(method.name, n)] = copy.copy(method)
                known = None if stored is None else [stored[index] for index in chosen]
                prepared[(method.name, n)].prepare(frames[chosen], chosen, known)
        identity = _source_identity(scorer, frames[0]) if settings.cross_identity else "per-frame"
        fid_mask = fid_mask_for(len(times), fid_cap)
        for part in _batches(len(times), settings.batch_size):
            _score_batch(
                scorer,
                prepared,
                rows,
                driving_frames[times[part]],
                times[part],
                fid_mask[part],
                identity,
                settings.cross_identity,
                None if driving_stored is None else [driving_stored[index] for index in times[part]],
            )
    mode = "cross-identity" if settings.cross_identity else "reconstruction"
    extra = {"clips": [clip.name for clip in clips], "image_size": image_size}
    if settings.cross_identity:
        extra["pairs"] = [f"{clips[s].name} -> {clips[d].name}" for s, d in pairs]
        assert people is not None
        notes.append(f"cross-identity: {len(pairs)} pairs of clips, {len(set(people))} different people")
    return _report(mode, settings, scorer, rows, notes, extra)


def _score_batch(
    scorer: Scorer,
    prepared: dict[tuple[str, int], Method],
    rows: dict[tuple[str, int | None], RowAccumulator],
    frames: np.ndarray,
    times: np.ndarray,
    fid_mask: np.ndarray,
    identity: np.ndarray | str | None,
    cross_identity: bool,
    landmarks: list[np.ndarray | None] | None = None,
) -> None:
    """Analyse one batch of real driving frames once, then score every (method, N) on it. The
    methods get the dataset's landmarks of these frames when given, else the scorer's, if any."""
    reference = scorer.reference(frames, fid_mask, identity)
    if landmarks is None and reference.faces is not None:
        landmarks = reference.faces.landmarks
    driving = DrivingFrames(
        frames=frames, times=np.full(len(times), -1) if cross_identity else times, landmarks=landmarks
    )
    for key, method in prepared.items():
        scorer.update(rows[key], method.render(driving), reference)


def stored_landmarks(clip: Path, num_frames: int, image_size: int) -> list[np.ndarray | None] | None:
    """The landmarks `tiw preprocess` stored beside a dataset clip (tracked, so they also cover
    frames a per-frame detector misses), as (68, 2) pixels at `image_size` per frame (None: no face),
    or None when the clip has no usable landmark file. Every method then sees the same landmarks."""
    path = landmarks_path(clip)
    if not path.exists():
        return None
    try:
        landmarks = np.load(path)
    except (OSError, ValueError):
        return None
    if landmarks.ndim != 3 or landmarks.shape[1:] != (68, 2) or len(landmarks) < num_frames:
        return None
    pixels = (landmarks[:num_frames].astype(np.float64) + 1) / 2 * image_size  # crop [-1, 1] -> pixels
    return [None if np.isnan(points).any() else points for points in pixels]


def _clip_pairs(count: int, settings: EvalSettings, people: Sequence[str] | None) -> list[tuple[int, int]]:
    """(source clip, driving clip) per evaluation: the same clip; for cross-identity, a clip of
    another person: the clips of other people in list order after the source clip, rotated by
    a seeded shift (so each driving clip is used about as often as any other)."""
    if not settings.cross_identity:
        return [(index, index) for index in range(count)]
    assert people is not None
    if len(set(people)) < 2:
        raise InputError(
            f"cross-identity evaluation needs clips of at least 2 different people; all {count} clips "
            "are of one person (same source video or same face); try another --split"
        )
    shift = int(np.random.default_rng(settings.seed).integers(0, 1 << 30))
    pairs = []
    for index in range(count):
        others = [(index + step) % count for step in range(1, count)]
        others = [other for other in others if people[other] != people[index]]
        pairs.append((index, others[shift % len(others)]))
    return pairs


# clip files written by `tiw preprocess`: SOURCESTEM_<8 hex digits>_<3 digits>.mp4
_CLIP_NAME = re.compile(r"^(?P<source>.+)_[0-9a-f]{8}_\d{3}$")
SAME_PERSON_DISTANCE = 0.6  # dlib identity embeddings: below this, the same person


def clip_people(clips: Sequence[Path], analyzer: object | None = None) -> list[str]:
    """A person label per clip, for pairing different people.

    A clip's person is the `person` of its record in the dataset's manifest.json when there is
    one, else its source video (the manifest's `source`, or the stem `tiw preprocess` names clips
    by). With a face `analyzer`, source videos whose faces' identity embeddings are closer than
    SAME_PERSON_DISTANCE are one person too (one man filmed in several videos).
    """
    records = _manifest_records(clips)
    labels = []
    for clip in clips:
        record = records.get(clip.resolve(), {})
        if record.get("person") or record.get("source"):
            labels.append(str(record.get("person") or record["source"]))
        else:
            match = _CLIP_NAME.match(clip.stem)
            labels.append(match.group("source") if match else clip.stem)
    if analyzer is None:
        return labels
    return _merge_by_face(clips, labels, analyzer)


def _manifest_records(clips: Sequence[Path]) -> dict[Path, dict]:
    """Clip path -> its manifest record, for the datasets the clips are in (none: empty)."""
    records: dict[Path, dict] = {}
    for root in {clip.resolve().parent.parent for clip in clips}:
        try:
            manifest = json.loads((root / "manifest.json").read_text())
            for record in manifest.get("clips", []):
                records[(root / record["file"]).resolve()] = record
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # no manifest, or not ours: labels come from the file names
    return records


def _merge_by_face(clips: Sequence[Path], labels: list[str], analyzer) -> list[str]:
    """Merge the labels whose clips show the same face (mean embedding distance < threshold)."""
    embeddings: dict[str, list[np.ndarray]] = {}
    for clip, label in zip(clips, labels, strict=True):
        embedding = _clip_embedding(clip, analyzer)
        if embedding is not None:
            embeddings.setdefault(label, []).append(embedding)
    means = {label: np.mean(values, axis=0) for label, values in embeddings.items()}
    merged = {label: label for label in labels}
    names = sorted(means)
    for first, second in itertools.combinations(names, 2):
        if float(np.linalg.norm(means[first] - means[second])) < SAME_PERSON_DISTANCE:
            old, new = merged[second], merged[first]
            merged = {key: new if value == old else value for key, value in merged.items()}
    return [merged[label] for label in labels]


def _clip_embedding(clip: Path, analyzer) -> np.ndarray | None:
    """The identity embedding of the first of 3 frames (evenly spread) with a face, or None."""
    with VideoReader(clip) as reader:
        wanted = set(np.linspace(0, max(reader.info.num_frames - 1, 0), 3).round().astype(int).tolist())
        frames = [frame for index, frame in enumerate(reader.frames()) if index in wanted]
    for frame in frames:
        if min(frame.shape[:2]) < 256:  # dataset crops can be tiny: the detector needs ~80 px faces
            frame = resize_frames(frame[None], 256, round(256 * frame.shape[1] / frame.shape[0]))[0]
        faces = analyzer.detect(frame)
        if faces:
            return np.asarray(analyzer.embedding(frame, faces[0]), np.float64)
    return None


def _identity_analyzer(scorer: Scorer):
    """The scorer's face analyzer for grouping clips by person; None when it cannot load."""
    from tiwcli.errors import MissingWeightsError

    try:
        return scorer.analyzer()
    except MissingWeightsError:
        return None


def _source_identity(scorer: Scorer, frame: np.ndarray) -> np.ndarray | None:
    if scorer.face_analyzer is None or "aed" not in scorer.active:
        return None
    faces = scorer.face_analyzer.detect(frame)
    return None if not faces else np.asarray(scorer.face_analyzer.embedding(frame, faces[0]), np.float64)


def match_videos(pred_dir: Path, real_dir: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Pairs of (pred, real) videos with the same file stem, and warnings about the others."""
    for folder in (pred_dir, real_dir):
        if not folder.is_dir():
            raise InputError(f"{folder}: no such folder")

    def videos(folder: Path) -> dict[str, Path]:
        return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES}

    pred, real = videos(pred_dir), videos(real_dir)
    common = sorted(set(pred) & set(real))
    if not common:
        raise InputError(f"no videos with the same name in {pred_dir} and {real_dir}")
    warnings_list = []
    for stem in sorted(set(pred) ^ set(real)):
        side = "pred" if stem in pred else "real"
        warnings_list.append(f"{stem}: only in the {side} folder, skipped")
    return [(pred[stem], real[stem]) for stem in common], warnings_list


def evaluate_videos(
    pred_dir: Path, real_dir: Path, settings: EvalSettings, progress: Progress | None = None
) -> EvaluationReport:
    """Score generated videos against real ones, frame by frame: the first min(t_pred, t_real)
    frames (warning when the counts differ), generated frames resized to the real size."""
    pairs, notes = match_videos(pred_dir, real_dir)
    scorer = _new_scorer(settings, ground_truth=True)
    method = pred_dir.resolve().name
    row = RowAccumulator()
    fid_cap = math.ceil(settings.fid_frames / len(pairs))
    for index, (pred_path, real_path) in enumerate(pairs):
        if progress is not None:
            progress(f"video {index + 1}/{len(pairs)}: {real_path.name}")
        pred_count, real_count = probe_video(pred_path).num_frames, probe_video(real_path).num_frames
        if pred_count != real_count:
            notes.append(
                f"{real_path.stem}: {pred_count} generated vs {real_count} real frames, scored the first "
                f"{min(pred_count, real_count)}"
            )
        count = min(pred_count, real_count, settings.max_frames or pred_count)
        if count > 0:
            fid_mask = fid_mask_for(count, fid_cap)
        else:  # the containers do not say how long they are: FID/KID on the first frames
            count, fid_mask = settings.max_frames, np.ones(fid_cap, bool)
        start = 0
        for pred, real in _paired_batches(pred_path, real_path, settings.batch_size, count):
            if pred.shape != real.shape and start == 0:
                notes.append(_size_note(pred_path, pred.shape, real.shape))
            pred = resize_frames(pred, *real.shape[1:3])
            mask = np.zeros(len(real), bool)
            mask[: len(fid_mask[start : start + len(real)])] = fid_mask[start : start + len(real)]
            scorer.update(row, pred, scorer.reference(real, mask))
            start += len(real)
    return _report(
        "videos",
        settings,
        scorer,
        {(method, None): row},
        notes,
        {"pred": str(pred_dir), "real": str(real_dir)},
    )


def _size_note(pred_path: Path, pred_shape: tuple[int, ...], real_shape: tuple[int, ...]) -> str:
    """The note for generated frames of another size; an error when the aspect ratios differ
    (a 256x256 face crop stretched onto a 640x360 frame would be scored as garbage)."""
    (pred_height, pred_width), (real_height, real_width) = pred_shape[1:3], real_shape[1:3]
    if abs((pred_width / pred_height) / (real_width / real_height) - 1) > MAX_ASPECT_MISMATCH:
        raise InputError(
            f"{pred_path.name}: generated frames are {pred_width}x{pred_height}, real ones "
            f"{real_width}x{real_height}: other framing, no pixel-wise comparison is possible; "
            "give real videos cropped the way the tool's inputs were"
        )
    return (
        f"{pred_path.stem}: generated frames {pred_width}x{pred_height} resized to the real "
        f"{real_width}x{real_height}"
    )


def _paired_batches(
    pred_path: Path, real_path: Path, batch_size: int, max_frames: int | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(pred, real) batches of frames read in step from two videos; stops at the shorter one."""
    with VideoReader(pred_path) as pred_reader, VideoReader(real_path) as real_reader:
        pairs = itertools.islice(zip(pred_reader.frames(), real_reader.frames(), strict=False), max_frames)
        while batch := list(itertools.islice(pairs, batch_size)):
            yield np.stack([p for p, _ in batch]), np.stack([r for _, r in batch])


# ---------------------------------------------------------------------------- plot


def plot_report(report: EvaluationReport, path: Path) -> None:
    """Each available metric against the number of sources, one line per method (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [
        name for name in report.metrics if any(row.metrics[name].value is not None for row in report.rows)
    ]
    if not names or all(row.num_sources is None for row in report.rows):
        raise InputError("--plot needs a dataset evaluation with at least one available metric")
    columns = min(3, len(names))
    lines = math.ceil(len(names) / columns)
    figure, axes = plt.subplots(lines, columns, figsize=(4 * columns, 3 * lines), squeeze=False)
    methods = list(dict.fromkeys(row.method for row in report.rows))
    for axis, name in zip(axes.flat, names, strict=False):
        spec = METRICS[name]
        for color, method in enumerate(methods):  # a method keeps its colour in every panel
            points = sorted(
                (row.num_sources, row.metrics[name].value)
                for row in report.rows
                if row.method == method and row.metrics[name].value is not None
            )
            if points:
                axis.plot(*zip(*points, strict=True), marker="o", label=method, color=f"C{color}")
        axis.set_title(f"{spec.label} ({'higher' if spec.higher_is_better else 'lower'} is better)")
        axis.set_xlabel("number of source images")
        axis.set_xticks(sorted({row.num_sources for row in report.rows if row.num_sources is not None}))
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(names) :]:
        axis.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    figure.suptitle(f"tiw eval ({report.mode})")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def format_value(name: str, value: MetricValue) -> str:
    if value.value is None:
        return "n/a"
    digits = {"l1": 2, "psnr": 2, "ssim": 4, "lpips": 4, "fid": 2, "kid": 4, "akd": 2, "mkr": 3, "aed": 3}[
        name
    ]
    if math.isinf(value.value):
        return "inf"
    return f"{value.value:.{digits}f}"


def unexplained_gaps(report: EvaluationReport) -> list[str]:
    """One line per (metric, reason) that leaves cells n/a, other than metrics `unavailable` at all."""
    lines = []
    for name in report.metrics:
        if name in report.unavailable:
            continue
        by_reason: dict[str, list[str]] = {}
        for row in report.rows:
            if row.metrics[name].value is None:
                label = row.method if row.num_sources is None else f"{row.method} x{row.num_sources}"
                by_reason.setdefault(row.metrics[name].note, []).append(label)
        for reason, labels in by_reason.items():
            lines.append(f"{METRICS[name].label} n/a for {', '.join(labels)}: {reason}")
    return lines
