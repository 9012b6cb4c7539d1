"""Where head-pose following is lost (issue 27): per portrait, the correlation with the driver's yaw,
pitch and roll proxies (dlib on each; `face_measures.head_pose`) of the landmarks given to the model
and of the model's output, with the portrait's own roll and face size against the driver's.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/expressions/pose_diagnosis.py WEIGHTS DRIVER.mp4 PORTRAIT...
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
import cross_identity  # noqa: E402
from face_measures import head_pose  # noqa: E402

from tiwcli.io.video import read_all_frames  # noqa: E402


def poses(landmarks) -> np.ndarray:  # type: ignore[no-untyped-def]
    """A sequence of (68, 2) landmarks, None or NaN where no face -> (t, 3) yaw, pitch, roll
    proxies (`face_measures.head_pose`), NaN there too."""
    nan = np.full(3, np.nan)
    return np.stack([head_pose(p) if p is not None and np.isfinite(p).all() else nan for p in landmarks])


def correlations(driver: np.ndarray, other: np.ndarray) -> list[float]:
    """(t, 3) pose proxies each -> yaw, pitch, roll correlations over the frames both have."""
    ok = np.isfinite(driver).all(1) & np.isfinite(other).all(1)
    return [float(np.corrcoef(driver[ok, axis], other[ok, axis])[0, 1]) for axis in range(3)]


def main(argv: list[str]) -> int:
    weights, driver = Path(argv[0]), Path(argv[1])
    animator = cross_identity.portrait_animator(weights, mouth_interior="driver")
    given = cross_identity.record_given_landmarks(animator)  # the landmarks handed to the model
    driving = read_all_frames(driver, max_frames=60)
    print("portrait: roll deg, eye distance / driver's | yaw pitch roll correlation: given; output")
    for portrait in (Path(p) for p in argv[2:]):
        given.clear()
        run = cross_identity.animate_portrait(animator, portrait, driving)
        size = run.source_crop.shape[0]
        faces = animator.analyzer.detect(run.source_crop)
        if not faces or len(given) != len(run.outputs):
            print(f"{portrait.name}: no face in the source crop")
            continue
        seen, made = poses(run.driver_landmarks), poses(run.output_landmarks)
        handed = np.array([head_pose(cross_identity.crop_pixels(g, size)) for g in given])
        source = faces[0].landmarks
        first = next(p for p in run.driver_landmarks if p is not None)
        eyes = np.linalg.norm(source[45] - source[36]) / np.linalg.norm(first[45] - first[36])
        given_c, made_c = correlations(seen, handed), correlations(seen, made)
        print(
            f"{portrait.name}: {head_pose(source)[2]:+.1f}, {eyes:.2f} | "
            + " ".join(f"{v:+.2f}" for v in given_c)
            + " ; "
            + " ".join(f"{v:+.2f}" for v in made_c),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
