"""The 640x480, 60 fps stand-in for a camera of issue 25: the demo driving clip (640x360) padded
with black bars to 640x480 and re-timed to 60 fps (every frame kept: it plays 2.5x faster).

    .venv/bin/python benchmarks/live/make_live60.py OUT.mp4
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tiwcli.io.video import VideoWriter, read_all_frames


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    frames = read_all_frames(
        Path(__file__).resolve().parents[2] / "samples" / "driving.mp4"
    )  # (t, 360, 640, 3)
    height, width = frames.shape[1:3]
    padded = np.zeros((len(frames), 480, 640, 3), np.uint8)
    top, left = (480 - height) // 2, (640 - width) // 2
    padded[:, top : top + height, left : left + width] = frames[:, :480, :640]
    with VideoWriter(out, 60, overwrite=True) as writer:
        writer.write_batch(padded)
    print(f"wrote {out}: {len(frames)} frames, 640x480, 60 fps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
