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
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from tiwcli.choices import Precision
from tiwcli.dataset.layout import list_clips, stored_landmarks
from tiwcli.errors import InputError
from tiwcli.evaluation.baselines import BASELINES, CopySource, DrivingFrames, LandmarkWarp, Method
from tiwcli.evaluation.metrics import RowAccumulator, Scorer
from tiwcli.evaluation.people import clip_people
from tiwcli.evaluation.report import EvalSettings, EvaluationReport, Row
from tiwcli.io.frames import frames_to_tensor, landmarks_to_tensor, resize_frames, tensor_to_frames
from tiwcli.io.video import probe_video, read_all_frames
from tiwcli.runtime import autocast, resolve_device

FEW_FID_FRAMES = 50  # FID/KID on fewer frames per set get a warning: too noisy to mean much
MODEL_METHOD = "implicit-warping"
Progress = Callable[[str], None]

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
    """The Implicit Warping model as a method: sources encoded once per clip, then absolute animation,
    with the autocast of `tiw animate` on the same device and precision (tiwcli.runtime).
    A model with the landmark prior also gets the faces' 68 landmarks (the driving frames' from the
    scorer when it has them, else from `analyzer`; a frame without a face gets none)."""

    name = MODEL_METHOD

    def __init__(
        self,
        model: torch.nn.Module,
        analyzer: Callable[[], object] | None = None,
        precision: Precision = "auto",
    ) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.analyzer = analyzer if model.config.uses_landmarks else None
        self.precision = precision

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
        with torch.inference_mode(), autocast(self.device, self.precision):
            self.encoding = self.model.encode_sources(frames_to_tensor(sources[None], self.device), landmarks)

    def render(self, driving: DrivingFrames) -> np.ndarray:
        landmarks = None
        if self.analyzer is not None:
            landmarks = self._landmarks(driving.frames, driving.landmarks)
        with torch.inference_mode(), autocast(self.device, self.precision):
            frames = frames_to_tensor(driving.frames, self.device)  # (b, 3, H, W)
            images = self.model.animate(self.encoding, self.model.keypoint_detector(frames), landmarks)
        return tensor_to_frames(images)


def build_methods(
    model: torch.nn.Module | None, baselines: Sequence[str], scorer: Scorer, precision: Precision = "auto"
) -> list[Method]:
    methods: list[Method] = [] if model is None else [ModelMethod(model, scorer.analyzer, precision)]
    for name in baselines:
        if name == "copy-source":
            methods.append(CopySource())
        elif name == "landmark-warp":
            methods.append(LandmarkWarp(scorer.analyzer()))
        else:
            raise InputError(f"unknown baseline {name!r}: choose from {', '.join(BASELINES)}")
    return methods


# ---------------------------------------------------------------------------- protocols


def new_scorer(settings: EvalSettings, ground_truth: bool) -> Scorer:
    return Scorer(settings.metrics, settings.face_backend, ground_truth=ground_truth, seed=settings.seed)


def new_report(
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
    scorer = new_scorer(settings, ground_truth=not settings.cross_identity)
    methods = build_methods(model, settings.baselines, scorer, settings.precision)
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
    return new_report(mode, settings, scorer, rows, notes, extra)


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


def evaluate_data(
    data_dir: Path,
    settings: EvalSettings,
    *,
    split: str = "test",
    weights: Path | None = None,
    use_model: bool = True,
    device: str = "auto",
    progress: Progress | None = None,
) -> EvaluationReport:
    """Reconstruction (or cross-identity) on a split of a `tiw preprocess` dataset: the model of
    `weights` (default: $TIW_WEIGHTS or the shipped weights) and the baselines, or with
    `use_model` False the baselines alone, at the dataset's frame size."""
    from tiwcli.checkpoint import resolve_weights

    weights_path = resolve_weights(weights) if use_model else None  # a missing file: before any work
    clips = list_clips(data_dir, split)
    if weights_path is None:
        if not settings.baselines:
            raise InputError("--no-model with --baselines none leaves nothing to evaluate")
        return evaluate_dataset(
            clips, None, settings, image_size=probe_video(clips[0]).height, progress=progress
        )
    from tiwcli.checkpoint import load_model

    model = load_model(weights_path, device=resolve_device(device))
    return evaluate_dataset(clips, model, settings, progress=progress)
