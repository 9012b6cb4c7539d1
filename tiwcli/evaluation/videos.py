"""`tiw eval --pred DIR --real DIR`: videos made by any tool scored against real ones, matched by
file stem, frame by frame (generated frames resized to the real size when only the size differs).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tiwcli.errors import InputError
from tiwcli.evaluation.metrics import RowAccumulator
from tiwcli.evaluation.protocols import Progress, fid_mask_for, new_report, new_scorer
from tiwcli.evaluation.report import EvalSettings, EvaluationReport
from tiwcli.io.frames import resize_frames
from tiwcli.io.video import VIDEO_SUFFIXES, VideoReader, probe_video

MAX_ASPECT_MISMATCH = 0.02  # --pred/--real: relative difference of aspect ratios still resized


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
    scorer = new_scorer(settings, ground_truth=True)
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
    return new_report(
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
