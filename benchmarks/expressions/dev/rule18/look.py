"""The eighteenth rule's look: dev portraits driven by a dev driver at its five most open frames,
the driver's mouth interior brought to the portrait's light each way (`COLOUR_TRANSFER`), s = 1.5.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/expressions/dev/rule18/look.py DRIVER.mp4 OUT.jpg \
        WAY,WAY PORTRAIT...
"""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[4]
sys.path[:0] = [str(ROOT / "benchmarks/expressions"), str(ROOT / "benchmarks")]
import cross_identity  # noqa: E402

from tiwcli.inference import mouth_interior  # noqa: E402
from tiwcli.inference.motion import landmarks_in_crop, mouth_openings  # noqa: E402
from tiwcli.io.images import save_image  # noqa: E402
from tiwcli.io.video import read_all_frames  # noqa: E402

WEIGHTS = ROOT / "weights/tiw-landmark-256.safetensors"
driver, out, ways = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].split(",")
portraits = [ROOT / "data/train-256/dev-portraits" / name for name in sys.argv[4:]]
driving = read_all_frames(driver, max_frames=60)
animator = cross_identity.portrait_animator(WEIGHTS, mouth_interior="driver", mouth_scale=1.5)
rows, picks = [], None
for portrait in portraits:
    for way in ways:
        mouth_interior.COLOUR_TRANSFER = way
        run = cross_identity.animate_portrait(animator, portrait, driving)
        if picks is None:
            opening = [
                mouth_openings(landmarks_in_crop(points, None, 256)) if points is not None else -1.0
                for points in run.driver_landmarks
            ]
            picks = np.argsort(opening)[-5:][::-1]
            drivers = np.stack(run.drivers)
            rows.append(np.concatenate([np.full_like(drivers[0], 255), *drivers[picks]], axis=1))
        outputs = np.stack(run.outputs)
        rows.append(np.concatenate([run.source_crop, *outputs[picks]], axis=1))
save_image(out, np.concatenate(rows, axis=0))
print(out, "frames", picks, "rows per portrait:", ways)
