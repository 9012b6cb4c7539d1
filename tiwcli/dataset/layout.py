"""The layout of a dataset folder, as `tiw preprocess` writes it and `tiw train` / `tiw eval` read it.

DIR/train/*.mp4, DIR/test/*.mp4   square face clips (any of io.video.VIDEO_SUFFIXES)
DIR/<split>/CLIP.landmarks.npy    the clip's 68 landmarks per frame (landmark guidance)
DIR/manifest.json                 every clip and every source video (tiwcli.dataset.preprocess)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tiwcli.errors import InputError
from tiwcli.io.video import VIDEO_SUFFIXES

MANIFEST_FILE = "manifest.json"


def list_clips(data_dir: Path, split: str) -> list[Path]:
    """The clip files of one split (`DIR/<split>/*.mp4`), sorted, or a one-line error."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputError(f"{data_dir}: no such dataset folder")
    folder = data_dir / split
    clips = (
        sorted(p for p in folder.glob("*") if p.suffix.lower() in VIDEO_SUFFIXES) if folder.is_dir() else []
    )
    if not clips:
        raise InputError(
            f"{data_dir}: no {split} clips (expected {folder}/*.mp4; build a dataset with `tiw preprocess`)"
        )
    return clips


def landmarks_path(clip: Path) -> Path:
    """CLIP.mp4 -> CLIP.landmarks.npy, the clip's per-frame landmarks."""
    return clip.with_suffix(".landmarks.npy")


def stored_landmarks(clip: Path, num_frames: int, image_size: int) -> list[np.ndarray | None] | None:
    """The landmarks `tiw preprocess` stored beside a dataset clip (tracked, so they also cover
    frames a per-frame detector misses), as (68, 2) pixels at `image_size` per frame (None: no face),
    or None when the clip has no usable landmark file. Every method then sees the same landmarks."""
    path = landmarks_path(clip)
    if not path.exists():
        return None
    try:
        landmarks = np.load(path)
    except (OSError, ValueError, EOFError):  # EOFError: an empty file
        return None
    if landmarks.ndim != 3 or landmarks.shape[1:] != (68, 2) or len(landmarks) < num_frames:
        return None
    pixels = (landmarks[:num_frames].astype(np.float64) + 1) / 2 * image_size  # crop [-1, 1] -> pixels
    return [None if np.isnan(points).any() else points for points in pixels]
