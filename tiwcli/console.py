"""Rich consoles for commands: tables on stdout, progress and notices on stderr.

Rich assumes 80 columns when output is not a terminal (CI logs, pipes); tables
then get truncated, so non-terminals get a wide fixed width instead.
"""

from __future__ import annotations

from rich.console import Console

NON_TERMINAL_WIDTH = 160


def make_console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=NON_TERMINAL_WIDTH)
    return console
