"""Rich consoles for commands: tables on stdout, progress and notices on stderr.

Rich assumes 80 columns when output is not a terminal (CI logs, pipes); tables
then get truncated, so non-terminals get a wide fixed width instead. A rich progress
bar shows nothing on a non-terminal until it ends: `LogProgress` prints lines instead.
"""

from __future__ import annotations

import time

from rich.console import Console

NON_TERMINAL_WIDTH = 160
LOG_PROGRESS_SECONDS = 5.0  # between progress lines when stderr is not a terminal


def make_console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=NON_TERMINAL_WIDTH)
    return console


class LogProgress:
    """Progress as plain log lines, for stderr that is not a terminal (CI, pipes, `2> log`).

    The subset of `rich.progress.Progress` the commands use (`add_task`, `advance`, `update`,
    context manager): a line per task every `interval` seconds, e.g. `animating: 120/300 frames,
    25.3 frames/s, 4.7 s`, and a last one when a task that printed lines ends. Stages shorter
    than `interval` print nothing, so a quick run's stderr (or its one `error:` line) stays clean.
    """

    def __init__(self, console: Console, unit: str = "frames", interval: float | None = None) -> None:
        self.console = console
        self.unit = unit
        self.interval = LOG_PROGRESS_SECONDS if interval is None else interval
        self._tasks: dict[int, dict] = {}

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            for task in self._tasks.values():
                if task["printed"] and not task["reported_end"]:
                    self._print(task)

    def add_task(self, description: str, total: int | None = None, completed: int = 0, **fields) -> int:
        now = time.perf_counter()
        task_id = len(self._tasks)
        self._tasks[task_id] = {
            "description": description,
            "total": total,
            "completed": completed,
            "start": now,
            "start_count": completed,
            "last": now,
            "printed": False,  # lines only for stages longer than `interval`
            "reported_end": False,
        }
        return task_id

    def advance(self, task_id: int, amount: float = 1) -> None:
        task = self._tasks[task_id]
        if task["completed"] == task["start_count"] and time.perf_counter() - task["start"] < 0.01:
            # a task added on its first report: that chunk's time was not measured, so the
            # speed counts from here
            task["start_count"] += amount
        self.update(task_id, completed=task["completed"] + amount)

    def update(
        self,
        task_id: int,
        completed: float | None = None,
        total: int | None = None,
        description: str | None = None,
        **fields,
    ) -> None:
        task = self._tasks[task_id]
        if description is not None and description != task["description"]:  # a new stage (file)
            now = time.perf_counter()
            start_count = task["completed"] if completed is None else completed
            task.update(description=description, start=now, last=now, start_count=start_count)
            task.update(printed=False, reported_end=False)
        if total is not None:
            task["total"] = total
        if completed is not None:
            task["completed"] = completed
        now = time.perf_counter()
        finished = task["total"] is not None and task["completed"] >= task["total"]
        if finished and task["printed"] and not task["reported_end"]:
            task["reported_end"] = True
            self._print(task)
        elif now - task["last"] >= self.interval:
            self._print(task)

    def _print(self, task: dict) -> None:
        now = time.perf_counter()
        task["last"], task["printed"] = now, True
        elapsed = now - task["start"]
        done = int(task["completed"])
        count = f"{done}/{task['total']}" if task["total"] else str(done)
        measured = task["completed"] - task["start_count"]
        speed = f", {measured / elapsed:.1f} {self.unit}/s" if measured > 0 and elapsed > 0 else ""
        self.console.print(
            f"{task['description']}: {count} {self.unit}{speed}, {elapsed:.1f} s",
            markup=False,
            highlight=False,
        )
