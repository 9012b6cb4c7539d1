"""The one project exception. Only `cli.py` turns it into an exit code."""

from __future__ import annotations


class TiwError(Exception):
    """A failure the user can act on: the message is one line, shown as is."""

    exit_code: int = 1


class InputError(TiwError):
    """A missing, unreadable, corrupt or unsupported input file or argument."""

    exit_code = 2


class MissingWeightsError(TiwError):
    """A network whose weights are not on disk (and cannot be downloaded here)."""

    exit_code = 3


class OutputError(TiwError):
    """An output that cannot be written: a read-only folder, a full disk, a failed rename."""

    exit_code = 2
