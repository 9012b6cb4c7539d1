"""Where the mouth's opening is lost (issue 27): per portrait, the mouth gain (least-squares slope on
the driver's opening, dlib on each) of the landmarks given to the model, of the model's output, and
of a classical piecewise-affine warp of exactly those landmarks; plus a strip of the four most open
driver frames (driver, output, piecewise-affine warp) per portrait.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/expressions/opening_diagnosis.py WEIGHTS DRIVER.mp4 \
        warp|driver OUT_DIR PORTRAIT...
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import cross_identity

from tiwcli.evaluation.baselines import piecewise_affine_warp
from tiwcli.evaluation.metrics.landmarks import mouth_opening
from tiwcli.io.images import save_image
from tiwcli.io.video import read_all_frames


def main(argv: list[str]) -> int:
    weights, driver, interior, out = Path(argv[0]), Path(argv[1]), argv[2], Path(argv[3])
    portraits = [Path(p) for p in argv[4:]]
    out.mkdir(parents=True, exist_ok=True)
    animator = cross_identity.portrait_animator(weights, mouth_interior=interior)
    given = cross_identity.record_given_landmarks(animator)  # the landmarks handed to the model
    driving = read_all_frames(driver, max_frames=60)
    for portrait in portraits:
        given.clear()
        run = cross_identity.animate_portrait(animator, portrait, driving)
        size = run.source_crop.shape[0]
        faces = animator.analyzer.detect(run.source_crop)
        if not faces:
            print(f"{portrait.name}: no face in the source crop")
            continue
        source = faces[0].landmarks
        rows, warps = [], []
        for index, (seen, made) in enumerate(zip(run.driver_landmarks, run.output_landmarks, strict=True)):
            if seen is None or made is None:
                continue
            handed = cross_identity.crop_pixels(given[index], size)
            warp = piecewise_affine_warp(run.source_crop, source, handed)
            warp_faces = animator.analyzer.detect(warp)
            warp_open = mouth_opening(warp_faces[0].landmarks) if warp_faces else np.nan
            rows.append((mouth_opening(seen), mouth_opening(handed), mouth_opening(made), warp_open))
            warps.append((index, warp))
        table = np.array(rows)
        ok = np.isfinite(table).all(1)
        gains = [np.polyfit(table[ok, 0], table[ok, column], 1)[0] for column in (1, 2, 3)]
        print(
            f"{portrait.name}: frames {ok.sum()}, gain of the landmarks given {gains[0]:.2f}, "
            f"output {gains[1]:.2f}, piecewise-affine warp {gains[2]:.2f}"
        )
        chosen = np.argsort(-table[:, 0])[:4]
        strip = np.concatenate(
            [
                np.concatenate([run.drivers[warps[j][0]], run.outputs[warps[j][0]], warps[j][1]], 0)
                for j in chosen
            ],
            1,
        )
        save_image(out / f"{portrait.stem}_{interior}.jpg", strip)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
