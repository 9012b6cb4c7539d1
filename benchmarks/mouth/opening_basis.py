"""How each of the 68 landmarks moves when the mouth opens: `MOUTH_OPENING_BASIS` in
tiwcli/inference/motion.py comes from this, on the training split only.

    .venv/bin/python benchmarks/mouth/opening_basis.py data/train-256/train

For every training clip (frames with a face), each landmark's position down the face (along the
eye line turned 90 degrees, from the eye centre, in outer eye-corner distances) is regressed on
the mouth opening (`mouth_openings`), both centred per clip; the pooled least-squares slope is
printed per landmark. motion.py's table is this, rounded and made left-right symmetric.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from tiwcli.inference.motion import mouth_openings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    openings, heights = [], []
    for path in sorted(args.folder.glob("*.landmarks.npy")):
        landmarks = np.load(path).astype(np.float64)
        landmarks = landmarks[np.isfinite(landmarks).all(axis=(1, 2))]  # (t, 68, 2)
        if len(landmarks) < 30:
            continue
        eyes = landmarks[:, 45] - landmarks[:, 36]  # (t, 2)
        size = np.linalg.norm(eyes, axis=1)
        down = np.stack([-eyes[:, 1], eyes[:, 0]], axis=1) / size[:, None]
        centre = (landmarks[:, 36] + landmarks[:, 45]) / 2
        height = np.einsum("tkd,td->tk", landmarks - centre[:, None], down) / size[:, None]  # (t, 68)
        opening = mouth_openings(landmarks)
        openings.append(opening - opening.mean())
        heights.append(height - height.mean(axis=0))
    opening, height = np.concatenate(openings), np.concatenate(heights)
    slope = (opening[:, None] * height).sum(axis=0) / (opening**2).sum()  # (68,)
    print(f"{len(openings)} clips, {len(opening)} frames")
    for index in [*range(17), *range(48, 68)]:
        print(f"{index}: {slope[index]:.2f}")
    rest = [index for index in range(17, 48)]
    print(f"largest |slope| elsewhere (brows, nose, eyes): {np.abs(slope[rest]).max():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
