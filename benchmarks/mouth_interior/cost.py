"""What `--mouth-interior driver` costs a frame: `paint_mouth_interior` on a real face, its mouth open
wider than the source's (so every frame is painted), batch 1, one thread.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mouth_interior/cost.py [--frames 200]

Prints the median and 90th percentile in ms. The sample portrait (mouth open, teeth showing) is the
driver and, with a red hole over its mouth, the output; the source's mouth is shut.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image

from tiwcli.faces.backends import load_face_analyzer
from tiwcli.inference.mouth_interior import paint_mouth_interior
from tiwcli.io.images import load_image
from tiwcli.samples import sample_file

SIZE = 256


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    analyzer = load_face_analyzer("dlib")
    image = load_image(sample_file("single_face.jpg"))
    x0, y0, x1, y1 = analyzer.detect(image)[0].box
    side = 1.8 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    box = tuple(int(v) for v in (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
    crop = np.asarray(Image.fromarray(image).crop(box).resize((SIZE, SIZE), Image.BICUBIC))
    landmarks = analyzer.detect(crop)[0].landmarks.astype(np.float64) / SIZE * 2 - 1
    shut = landmarks.copy()
    shut[[61, 62, 63], 1] = shut[[67, 66, 65], 1] = (shut[[61, 62, 63], 1] + shut[[67, 66, 65], 1]) / 2
    times = []
    for _ in range(args.frames + 10):
        start = time.perf_counter()
        paint_mouth_interior(crop[None], crop[None], landmarks[None], landmarks[None], shut)
        times.append(time.perf_counter() - start)
    ms = np.array(times[10:]) * 1000
    median, p90 = np.median(ms), np.percentile(ms, 90)
    print(f"paint_mouth_interior, batch 1, 1 thread: median {median:.2f} ms, p90 {p90:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
