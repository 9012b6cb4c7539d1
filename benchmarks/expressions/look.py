"""A strip to look at (the seventeenth, eighteenth and twentieth rules, RULE.md): dev portraits driven
by a driver at its five most open frames (dlib on the driving crops), the driver's mouth interior
painted, one row per portrait for each `--mouth-scale`, each `--colour-transfer`
(`mouth_interior.COLOUR_TRANSFER`), each `--luma-power` (`mouth_interior.LUMA_GAIN_POWER`) and each
`--opening-way` (`motion.SCALED_OPENING`), in that order; the driver's frames on top.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/expressions/look.py DRIVER.mp4 OUT.jpg PORTRAIT... \
        [--mouth-scale S ...] [--colour-transfer WAY ...] [--luma-power P ...] \
        [--opening-way lips|jaw ...] [--weights W]

PORTRAIT names are looked up in data/train-256/dev-portraits. The seventeenth rule's strip:
`--mouth-scale 1 1.5 --colour-transfer luma-chroma`; the eighteenth's: `--mouth-scale 1.5
--colour-transfer luma-chroma hue-turn`; the twentieth's: `--luma-power 1 0.5 0`; the twenty-first's:
`--opening-way lips jaw`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "benchmarks/expressions"), str(ROOT / "benchmarks")]
import cross_identity  # noqa: E402
from interior_fade import WAYS  # noqa: E402

from tiwcli.inference import motion, mouth_interior  # noqa: E402
from tiwcli.inference.motion import landmarks_in_crop, mouth_openings  # noqa: E402
from tiwcli.inference.options import AnimateOptions  # noqa: E402
from tiwcli.io.images import save_image  # noqa: E402
from tiwcli.io.video import read_all_frames  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("driver", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("portraits", nargs="+")
    parser.add_argument("--mouth-scale", type=float, nargs="+", default=[AnimateOptions.mouth_scale])
    parser.add_argument(
        "--colour-transfer", choices=WAYS, nargs="+", default=[mouth_interior.COLOUR_TRANSFER]
    )
    parser.add_argument("--luma-power", type=float, nargs="+", default=[mouth_interior.LUMA_GAIN_POWER])
    parser.add_argument(
        "--opening-way", choices=motion.OPENING_WAYS, nargs="+", default=[motion.SCALED_OPENING]
    )
    parser.add_argument("--weights", type=Path, default=ROOT / "weights/tiw-landmark-256.safetensors")
    args = parser.parse_args(argv)
    driving = read_all_frames(args.driver, max_frames=60)
    animators = {
        scale: cross_identity.portrait_animator(args.weights, mouth_interior="driver", mouth_scale=scale)
        for scale in args.mouth_scale
    }
    rows, picks = [], None
    for name in args.portraits:
        portrait = ROOT / "data/train-256/dev-portraits" / name
        for animator in animators.values():
            settings = (
                (w, p, o) for w in args.colour_transfer for p in args.luma_power for o in args.opening_way
            )
            for way, power, opening in settings:
                mouth_interior.COLOUR_TRANSFER, mouth_interior.LUMA_GAIN_POWER = way, power
                motion.SCALED_OPENING = opening
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
    save_image(args.out, np.concatenate(rows, axis=0))
    print(
        *(args.out, "frames", picks, "rows per portrait:", args.mouth_scale, "x", args.colour_transfer),
        *("x", args.luma_power, "x", args.opening_way),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
