"""A dataset's manifest.json: read, checked, and written merged with a concurrent run's.

`tiw preprocess` rewrites it after each source video; two runs into the same folder lock the
folder while they merge (`write_manifest`), so neither loses the other's clips.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tiwcli.dataset.layout import MANIFEST_FILE
from tiwcli.errors import InputError

DATASET_FORMAT = "tiw-dataset-v1"


def read_manifest(out_dir: Path, size: int) -> dict[str, Any]:
    """The dataset's manifest (a fresh one when there is none), made at `size` px."""
    path = out_dir / MANIFEST_FILE
    if not path.exists():
        return {"format": DATASET_FORMAT, "size": size, "clips": [], "skipped": [], "sources": {}}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: unreadable manifest ({error.__class__.__name__})") from None
    if manifest.get("format") != DATASET_FORMAT:
        raise InputError(f"{path}: not a tiw dataset manifest")
    if manifest.get("size") != size:
        raise InputError(f"{out_dir}: dataset was made at --size {manifest.get('size')}, not {size}")
    return manifest


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    """Write `manifest`, merged with what another `tiw preprocess` into the same folder wrote
    meanwhile (its sources and clips are kept, and `manifest` takes them in): the folder is locked
    while the file is read, merged and replaced, so two runs never lose each other's updates."""
    path = out_dir / MANIFEST_FILE
    with _folder_lock(out_dir):
        if path.exists():
            try:
                on_disk = json.loads(path.read_text())
            except (OSError, ValueError):
                on_disk = None  # replaced by ours, as before
            if isinstance(on_disk, dict) and on_disk.get("format") == manifest.get("format"):
                merged = _merge_manifests(on_disk, manifest, out_dir)
                manifest.clear()
                manifest.update(merged)
        temporary = path.with_name(f".{MANIFEST_FILE}.partial-{os.getpid()}")
        temporary.write_text(json.dumps(manifest, indent=1) + "\n")
        os.replace(temporary, path)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on `folder` itself (flock on its descriptor: no lock file is left)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        yield  # a file system that cannot open folders: unlocked, as before
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _merge_manifests(on_disk: dict[str, Any], ours: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """`ours` plus the sources, clips and skipped inputs that only `on_disk` has. A clip is known
    by its file name (moving it to test/ keeps the name); of two records, the one whose file is
    there wins."""
    merged = dict(ours)
    merged["sources"] = {**on_disk.get("sources", {}), **ours["sources"]}
    theirs = {Path(clip["file"]).name: clip for clip in on_disk.get("clips", [])}
    merged["clips"] = []
    for clip in ours["clips"]:
        other = theirs.pop(Path(clip["file"]).name, None)
        if other is not None and not (out_dir / clip["file"]).exists() and (out_dir / other["file"]).exists():
            clip = other
        merged["clips"].append(clip)
    merged["clips"].extend(theirs.values())
    skipped = {entry["source"]: entry for entry in on_disk.get("skipped", [])}
    skipped.update({entry["source"]: entry for entry in ours["skipped"]})
    done = {source for source, entry in merged["sources"].items() if entry.get("status") == "done"}
    merged["skipped"] = [entry for source, entry in skipped.items() if source not in done]
    return merged
