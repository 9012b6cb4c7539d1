"""`python -m tests.fuzz --cases 1000 --seed 0`: the long fuzz run (`make fuzz`); `--case I` reruns one.

Prints a line per failure (seed, case, what was broken, the command, the problems) and, at the end,
the figures: cases run, exit-code counts, failures, time. Exit status 1 when any case failed.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100, help="how many cases (numbers 0..N-1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--case", type=int, action="append", help="run only this case number (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep each failed case's folder")
    arguments = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    from tests.fuzz.corpus import build_corpus
    from tests.fuzz.harness import run_case

    torch.set_num_threads(1)
    numbers = arguments.case if arguments.case else range(arguments.cases)
    root = Path(tempfile.mkdtemp(prefix="tiw-fuzz-"))
    started = time.perf_counter()
    corpus = build_corpus(root / "corpus")
    exit_codes: collections.Counter[int] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    failures = 0
    for number in numbers:
        folder = root / f"case-{number}"
        outcome = run_case(corpus, folder, arguments.seed, number)
        exit_codes[outcome.exit_code] += 1
        kinds[outcome.case.kind] += 1
        if outcome.problems:
            failures += 1
            print(outcome.report(), flush=True)
        if not (outcome.problems and arguments.keep):
            shutil.rmtree(folder, ignore_errors=True)
        if (len(kinds)) and sum(kinds.values()) % 50 == 0:
            print(
                f"... {sum(kinds.values())} cases, {failures} failed, {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
    seconds = time.perf_counter() - started
    count = sum(kinds.values())
    print(
        f"fuzz: seed {arguments.seed}, {count} cases in {seconds:.0f} s "
        f"({seconds / max(count, 1):.2f} s each); exit codes {dict(sorted(exit_codes.items()))}; "
        f"kinds {dict(sorted(kinds.items()))}; {failures} failed"
    )
    if not arguments.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
