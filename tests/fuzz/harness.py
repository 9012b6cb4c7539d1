"""Run one fuzz case through the CLI in-process and check what a user is promised:

- exit code 0, 2 or 3, and no traceback (an exception escaping the command is exit 1);
- nothing left beside the output: no hidden or `.partial` file anywhere in the case's folder, nothing
  new among the inputs, and after a failure no output at all (animate, live, eval);
- every input unchanged (sha256 before and after);
- memory: the process's peak resident size grows by at most MEMORY_CEILING_MB in one case.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import resource
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from tests.fuzz.cases import Case, make_case
from tests.fuzz.corpus import Corpus

ALLOWED_EXIT_CODES = {0, 2, 3}
MEMORY_CEILING_MB = 1500  # generous: the shipped weights and a few 256 px frames take ~400 MB
FAILED_RUNS_LEAVE_NOTHING = {"animate", "live", "eval", "bench"}


@dataclass
class Outcome:
    case: Case
    exit_code: int
    seconds: float
    output: str
    problems: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"FAILED {self.case.describe()}", f"  tiw {' '.join(map(repr, self.case.arguments))}"]
        lines += [f"  - {problem}" for problem in self.problems]
        lines += [f"  | {line}" for line in self.output.strip().splitlines()[-15:]]
        return "\n".join(lines)


def checksums(paths: list[Path]) -> dict[Path, str]:
    sums = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            sums[path] = hashlib.sha256(path.read_bytes()).hexdigest()
    return sums


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def run_case(corpus: Corpus, folder: Path, seed: int, number: int) -> Outcome:
    from typer.testing import CliRunner

    from tiwcli.cli import app

    case = make_case(corpus, folder, seed, number)
    inputs = [folder / "in", corpus.photo, corpus.clip, corpus.weights, corpus.shipped_weights, corpus.data]
    before = checksums(inputs)
    memory = peak_memory_mb()
    started = time.perf_counter()
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), _threads_restored():
        result = CliRunner().invoke(app, case.arguments)
    seconds = time.perf_counter() - started
    output = result.output + stderr.getvalue()
    outcome = Outcome(case, result.exit_code, seconds, output)
    problems = outcome.problems
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        problems.append("an exception escaped: " + repr(result.exception)[:300])
        output += "".join(traceback.format_exception(result.exception))
        outcome.output = output
    if result.exit_code not in ALLOWED_EXIT_CODES:
        problems.append(f"exit code {result.exit_code}")
    if "Traceback" in output:
        problems.append("a traceback in the output")
    problems += _leftovers(folder, case, result.exit_code)
    after = checksums(inputs)
    changed = sorted(
        str(path) for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )
    if changed:
        problems.append(f"inputs changed or added: {changed[:5]}")
    growth = peak_memory_mb() - memory
    if growth > MEMORY_CEILING_MB:
        problems.append(f"peak memory grew by {growth:.0f} MB (ceiling {MEMORY_CEILING_MB} MB)")
    return outcome


def _leftovers(folder: Path, case: Case, exit_code: int) -> list[str]:
    problems = []
    hidden = [p for p in folder.rglob("*") if p.name.startswith(".") or ".partial" in p.name]
    if hidden:
        problems.append(f"left behind: {[str(p.relative_to(folder)) for p in hidden[:5]]}")
    beside = sorted(p.name for p in folder.iterdir() if p.name not in {"in", "out"})
    if beside:
        problems.append(f"files beside in/ and out/: {beside}")
    produced = {p.name for p in (folder / "out").iterdir()}
    unexpected = produced - case.outputs
    if exit_code != 0 and case.kind in FAILED_RUNS_LEAVE_NOTHING and produced:
        problems.append(f"a failed run left outputs: {sorted(produced)}")
    elif unexpected:
        problems.append(f"unexpected outputs: {sorted(unexpected)}")
    return problems


@contextlib.contextmanager
def _threads_restored():
    """`--threads N` sets torch's thread count for the process: put it back after each case."""
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)
