"""How colourful the painted mouth is (RULE.md, thirteenth rule): one portrait driven with the driver's
mouth interior brought to the output's light per channel (`gain`) and by luma and colour
(`luma-chroma`); per way, the mean HSV saturation inside the output's inner lips (dlib) over the
frames where the two differ (where the interior is painted), and a strip of the four most open
driver frames (driver, gain, luma-chroma).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/expressions/interior_colour.py WEIGHTS DRIVER.mp4 \
        PORTRAIT OUT.jpg
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
import cross_identity  # noqa: E402
from face_measures import hsv_saturation, inner_lip_mask  # noqa: E402

from tiwcli.evaluation.metrics.landmarks import mouth_opening  # noqa: E402
from tiwcli.inference import mouth_interior  # noqa: E402
from tiwcli.io.images import save_image  # noqa: E402
from tiwcli.io.video import read_all_frames  # noqa: E402

WAYS = ("gain", "luma-chroma")


def main(argv: list[str]) -> int:
    weights, driver, portrait, out = Path(argv[0]), Path(argv[1]), Path(argv[2]), Path(argv[3])
    animator = cross_identity.portrait_animator(weights, mouth_interior="driver")
    driving = read_all_frames(driver, max_frames=60)
    runs = {}
    for way in WAYS:
        mouth_interior.COLOUR_TRANSFER = way
        runs[way] = cross_identity.animate_portrait(animator, portrait, driving)
    first, second = (runs[way] for way in WAYS)
    painted = [
        index
        for index, (a, b) in enumerate(zip(first.outputs, second.outputs, strict=True))
        if not np.array_equal(a, b)
    ]
    for way, run in runs.items():
        values = [
            hsv_saturation(run.outputs[i])[inner_lip_mask(run.outputs[i].shape, run.output_landmarks[i])]
            for i in painted
            if run.output_landmarks[i] is not None
        ]
        pooled = np.concatenate(values) if values else np.array([])
        mean = float(pooled.mean()) if pooled.size else float("nan")
        print(f"{way}: mouth saturation {mean:.3f} over {len(values)} painted frames with a face")
    opened = [mouth_opening(p) if p is not None else -1.0 for p in first.driver_landmarks]
    chosen = np.argsort(opened)[::-1][:4]
    columns = [np.concatenate([first.drivers[i], first.outputs[i], second.outputs[i]], 0) for i in chosen]
    save_image(out, np.concatenate(columns, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
