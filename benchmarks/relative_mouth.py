"""How far the landmarks that drive the model open the mouth, under relative motion: the source
portrait's landmarks moved by the driver's change from its first frame (`tiw animate`'s default),
against the driver's own opening. No model runs: this is the signal the model is given.

    .venv/bin/python benchmarks/relative_mouth.py PORTRAIT CLIP.mp4 [CLIP.mp4 ...] [--max-frames 60]

Each CLIP needs its CLIP.landmarks.npy (`tiw preprocess`). Prints, per clip, the driver's first
and largest opening, and the correlation, gain (slope) and largest opening of the moved landmarks.
When the driver's first frame already has its mouth open, the moved lips barely part with
`--mouth-reference frame` (FOMM's relative motion, `tiw animate`'s default); "closed" measures
openings from the driver's least open mouth so far or in the next 25 frames. Both are printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from tiwcli.dataset.layout import landmarks_path
from tiwcli.evaluation.metrics.landmarks import mouth_opening
from tiwcli.faces.backends import load_face_analyzer
from tiwcli.faces.crop import crop_box_from_landmarks
from tiwcli.inference.motion import (
    MOUTH_LOOKAHEAD,
    closed_mouth_references,
    landmarks_in_crop,
    motion_landmarks,
)
from tiwcli.io.images import load_image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("portrait", type=Path)
    parser.add_argument("clips", type=Path, nargs="+")
    parser.add_argument("--max-frames", type=int, default=60)
    args = parser.parse_args(argv)
    faces = load_face_analyzer("dlib").detect(load_image(args.portrait))
    if not faces:
        print(f"error: no face in {args.portrait}", file=sys.stderr)
        return 1
    anchor = landmarks_in_crop(faces[0].landmarks, crop_box_from_landmarks(faces[0].landmarks), 0)
    for clip in args.clips:
        driving = np.load(landmarks_path(clip))[: args.max_frames].astype(np.float32)
        driving = driving[np.isfinite(driving).all(axis=(1, 2))]
        driver = np.array([mouth_opening(frame) for frame in driving])
        print(f"{clip.name}: driver first {driver[0]:.3f}, max {driver.max():.3f}; moved landmarks:")
        ahead = np.array(  # as the Animator's track gives it: the next MOUTH_LOOKAHEAD frames
            [
                np.nanmin(driver[index + 1 : index + 1 + MOUTH_LOOKAHEAD], initial=np.inf)
                for index in range(len(driver))
            ]
        )
        ahead[np.isinf(ahead)] = np.nan
        references = {
            "frame": driving[0],
            "closed": closed_mouth_references(driving[0], driving, ahead),
        }
        for name, reference in references.items():
            moved = motion_landmarks(driving, reference, anchor, "relative")
            given = np.array([mouth_opening(frame) for frame in moved])
            correlation, gain = np.corrcoef(driver, given)[0, 1], np.polyfit(driver, given, 1)[0]
            print(f"  {name:>6}: correlation {correlation:.2f}, gain {gain:.2f}, max {given.max():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
