"""The layout of a dataset folder, as `tiw preprocess` writes it and `tiw train` / `tiw eval` read it.

DIR/train/*.mp4, DIR/test/*.mp4   square face clips (any of io.video.VIDEO_SUFFIXES)
DIR/<split>/CLIP.landmarks.npy    the clip's 68 landmarks per frame (landmark guidance)
DIR/manifest.json                 every clip and every source video (tiwcli.dataset.preprocess)
"""

from __future__ import annotations

from pathlib import Path

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
