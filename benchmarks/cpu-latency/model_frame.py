"""One driving frame through shipped weights files (`evaluation.bench.animate_frames`, made-up
landmarks, batch 1), 1 and 3 sources, the median of 40 frames after 5 of warm-up. The process keeps
freed memory as `tiw` does. To compare two commits like for like, run it alternately from a
worktree of each (PYTHONPATH picks the `tiwcli` measured; the first word printed says which):

    git worktree add /tmp/wt-old COMMIT
    for i in 1 2 3; do
        PYTHONPATH=/tmp/wt-old OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cpu-latency/model_frame.py 1 W...
        OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cpu-latency/model_frame.py 1 W...
    done
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from tiwcli.allocator import keep_freed_memory


def main(argv: list[str]) -> int:
    keep_freed_memory()
    import tiwcli
    from tiwcli.checkpoint import load_model
    from tiwcli.evaluation.bench import animate_frames, encode, median_seconds

    torch.set_num_threads(int(argv[0]))
    cells = []
    for path in argv[1:]:
        model = load_model(path).eval()
        for sources in (1, 3):
            with torch.inference_mode():
                encoding = encode(model, torch.rand(1, sources, 3, 256, 256))
                driving = torch.rand(1, 3, 256, 256)
                step = lambda: animate_frames(model, encoding, driving)  # noqa: B023, E731
                for _ in range(5):  # warm-up
                    step()
                ms = median_seconds(step, 40) * 1000
            cells.append(f"{Path(path).name} {sources} src {ms:.1f} ms")
    print(Path(tiwcli.__file__).parents[1].name, "|", " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
