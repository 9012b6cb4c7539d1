"""Checks on files and folders made before any work, and one-line write errors.

Outputs are written to a temporary sibling and renamed into place, so whether a
folder accepts files is tested up front by creating (and removing) a probe file
there: permission bits alone say nothing for root or read-only file systems.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from tiwcli.errors import InputError, OutputError


def check_input_files(paths: Iterable[Path]) -> None:
    """Each path exists, is a file and can be opened for reading (cheap: nothing is decoded)."""
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if not path.is_file():
            raise InputError(f"{path}: not a file")
        try:
            with path.open("rb"):
                pass
        except OSError as error:
            raise InputError(f"{path}: cannot be read ({reason(error)})") from None


def check_writable_folder(folder: Path) -> None:
    """`folder` exists and a file can be created in it; else a one-line OutputError."""
    if not folder.exists():
        raise OutputError(f"{folder}: output folder does not exist")
    if not folder.is_dir():
        raise OutputError(f"{folder}: is not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".tiw-write-check-"):
            pass
    except OSError as error:
        raise OutputError(f"{folder}: cannot write there ({reason(error)})") from None


def check_output_folder(folder: Path) -> None:
    """A folder that is created with its parents if needed (a run or dataset folder): it is a
    folder, or its nearest existing ancestor is, and that one accepts new files."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{existing}: is a file, not a folder")
    check_writable_folder(existing)


def check_not_an_input(output: Path, inputs: Iterable[Path]) -> None:
    """`output` is none of `inputs`: not the same path, nor the same file through a hard link or a
    symlink (`--overwrite` must never replace the video or photo being read)."""
    resolved = output.resolve()
    for path in inputs:
        same = resolved == path.resolve()
        if not same and output.exists() and path.exists():
            try:
                same = os.path.samefile(output, path)
            except OSError:
                same = False
        if same:
            raise InputError(f"{output}: is also an input ({path}); choose another output name")


def write_error(path: Path, error: BaseException) -> OutputError:
    """The OutputError to raise when writing `path` failed with `error`."""
    return OutputError(f"{path}: could not be written ({reason(error)}); nothing was saved")


def reason(error: BaseException) -> str:
    """A short, single-line cause: 'No space left on device', 'Permission denied'..."""
    text = getattr(error, "strerror", None) or str(error) or error.__class__.__name__
    return text.splitlines()[0]


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM (kill, schedulers, container stops) raises KeyboardInterrupt like
    Ctrl-C, so the usual cleanup runs: temporary files are removed, nothing half-written stays."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
