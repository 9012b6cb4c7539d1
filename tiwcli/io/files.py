"""Checks on files and folders made before any work, and one-line write errors.

Outputs are written to a temporary sibling and renamed into place, so whether a
folder accepts files is tested up front by creating (and removing) a probe file
there: permission bits alone say nothing for root or read-only file systems.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import signal
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from tiwcli.errors import InputError, OutputError


def missing_reason(path: Path, default: str = "no such file") -> str:
    """Why `path`, which does not exist, does not: a symbolic link loop or a broken link are named
    as such (not reported as a missing file), else `default`."""
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symbolic link loop (the link leads back to itself); point it at a real file"
    if path.is_symlink():
        try:
            return f"a broken symbolic link (to {os.readlink(path)}, which does not exist)"
        except OSError:
            pass
    return default


def check_input_files(paths: Iterable[Path]) -> None:
    """Each path exists, is a file and can be opened for reading (cheap: nothing is decoded)."""
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: {missing_reason(path)}")
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


def temporary_sibling(path: Path) -> Path:
    """A short hidden name beside `path` (same folder, so the final rename never crosses file
    systems; same suffix, so writers pick the same format): `.tiw-PID-RANDOM.partial.mp4`. Its
    length does not grow with `path`'s, so any name the folder accepts can be written."""
    return path.with_name(f".tiw-{os.getpid()}-{secrets.token_hex(4)}.partial{path.suffix}")


# temporaries of `temporary_sibling` (.tiw-PID-RANDOM.partial.mp4) and of releases before it
# (.out.partial-PID.mp4): the PID says which process was writing
_TEMPORARY_NAMES = (
    re.compile(r"^\.tiw-(\d+)-[0-9a-f]{8}\.partial(\.[^.]+)?$"),
    re.compile(r"^\..+\.partial-(\d+)(\.[^.]+)?$"),
)


def remove_stale_temporaries(folder: Path) -> list[str]:
    """Remove the temporaries that a killed run (SIGKILL, a power cut) left in `folder`: those
    whose process is no longer running. A running process's are left alone (a second run writing
    there now). Prints one note naming what was removed, and returns the names."""
    removed = []
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    for entry in entries:
        pid = next((int(m.group(1)) for p in _TEMPORARY_NAMES if (m := p.match(entry.name))), None)
        if pid is None or _process_running(pid) or entry.is_symlink() or not entry.is_file():
            continue
        try:
            entry.unlink()
        except OSError:
            continue
        removed.append(entry.name)
    if removed:
        shown = ", ".join(removed[:3]) + (f" and {len(removed) - 3} more" if len(removed) > 3 else "")
        print(
            f"note: removed {len(removed)} unfinished temporary file(s) of an earlier tiw run that "
            f"was killed, from {folder}: {shown}",
            file=sys.stderr,
        )
    return removed


def _process_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process (or a number no process can have: leave it)
    return True


def check_name_length(path: Path) -> None:
    """`path`'s file name fits its folder's file system (usually 255 bytes): checked before any work."""
    try:
        limit = os.pathconf(path.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    size = len(os.fsencode(path.name))
    if size > limit:
        shown = f"{path.name[:40]}...{path.suffix}"
        raise InputError(f"{shown}: file name is {size} bytes, over this folder's limit of {limit}")


def check_output_file(path: Path, option: str) -> None:
    """A report file (`--json`, `--stats-json`) can be written: checked before the long run, so
    its results are not lost to a missing folder or a folder given as the file."""
    if not path.parent.exists():
        raise InputError(f"{option} {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder")
    check_writable_folder(path.parent)


def write_text_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary sibling and rename it into place: a failure (a full disk) is a
    one-line OutputError and leaves no partial file."""
    remove_stale_temporaries(path.parent)
    temporary = temporary_sibling(path)
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    except OSError as error:
        raise write_error(path, error) from None
    finally:
        temporary.unlink(missing_ok=True)


def check_not_an_input(output: Path, inputs: Iterable[Path]) -> None:
    """`output` is none of `inputs`: not the same path, nor the same file through a hard link or a
    symlink (`--overwrite` must never replace the video or photo being read)."""
    resolved = _resolved(output)
    for path in inputs:
        same = resolved == _resolved(path)
        if not same and output.exists() and path.exists():
            try:
                same = os.path.samefile(output, path)
            except OSError:
                same = False
        if same:
            raise InputError(f"{output}: is also an input ({path}); choose another output name")


def _resolved(path: Path) -> Path:
    """`path` with its symbolic links followed; as it is (made absolute) when they loop."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, before Python 3.13
        return Path(os.path.abspath(path))


def move_into_place(temporary: Path, path: Path, overwrite: bool) -> None:
    """Rename the finished `temporary` to `path`. Without `overwrite` the final name is created
    exclusively, so a file that appeared there during the run (saved by the user, or written by a
    second run) is never replaced: the result is kept beside it under a new name, and a one-line
    OutputError names both."""
    if overwrite:
        os.replace(temporary, path)
        return
    try:
        _create_exclusively(temporary, path)
    except FileExistsError:
        kept = _keep_aside(temporary, path)
        raise OutputError(
            f"{path}: appeared while tiw was writing it and was left as it is; the result was saved as "
            f"{kept.name} instead"
        ) from None


# link() fails with these where the file system has no hard links (FAT, some network mounts)
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}


def _create_exclusively(temporary: Path, path: Path) -> None:
    """Give `temporary` the name `path`, raising FileExistsError if that name is taken."""
    try:
        os.link(temporary, path)  # fails if `path` exists, atomically
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        # reserve the name (O_EXCL), then replace the empty file that is ours
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        try:
            os.replace(temporary, path)
        except OSError:
            path.unlink(missing_ok=True)
            raise
        return
    temporary.unlink()


def _keep_aside(temporary: Path, path: Path) -> Path:
    """Save `temporary` as the first free OUT.1.mp4, OUT.2.mp4... and return that name."""
    for number in range(1, 1000):
        candidate = path.with_name(f"{path.stem}.{number}{path.suffix}")
        try:
            _create_exclusively(temporary, candidate)
        except FileExistsError:
            continue
        return candidate
    raise OutputError(
        f"{path}: appeared while tiw was writing it, and so did {path.stem}.1-999; nothing was saved"
    )


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
