"""Where one frame's time goes for shipped weights files (`tiw bench --profile` works on presets with
random weights; this loads the files): `evaluation.bench.profile_modules`, batch 1, one source,
one thread, 20 frames. The process keeps freed memory as `tiw` does (`tiwcli.allocator`;
`TIW_KEEP_FREED_MEMORY=0` for glibc's defaults).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/vs-peers/profile_parts.py WEIGHTS...
"""

from __future__ import annotations

import sys
from pathlib import Path

from tiwcli.allocator import describe, keep_freed_memory
from tiwcli.checkpoint import load_model
from tiwcli.evaluation.bench import profile_modules


def main(argv: list[str]) -> int:
    keep_freed_memory()
    print(f"allocator: {describe()}")
    for path in (Path(p) for p in argv):
        for row in profile_modules(load_model(path).eval(), path.name, 1, frames=20, threads=1):
            print(f"{path.name:28s} {row.module:22s} {row.ms_per_frame:7.1f} ms {100 * row.share:5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
