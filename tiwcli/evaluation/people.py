"""Who is in which clip: person labels for pairing different people (cross-identity evaluation).

A clip's person comes from the dataset's manifest.json, else from its file name (`tiw preprocess`
names clips after their source video); with a face analyzer, source videos whose faces have the
same identity embedding are one person too.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tiwcli.dataset.layout import MANIFEST_FILE
from tiwcli.faces.backends import SAME_PERSON_DISTANCE
from tiwcli.io.frames import resize_frames
from tiwcli.io.video import VideoReader

# clip files written by `tiw preprocess`: SOURCESTEM_<8 hex digits>_<3 digits>.mp4
_CLIP_NAME = re.compile(r"^(?P<source>.+)_[0-9a-f]{8}_\d{3}$")


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
            manifest = json.loads((root / MANIFEST_FILE).read_text())
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
