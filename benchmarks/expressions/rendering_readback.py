"""Are head pose and mouth opening lost in the model's rendering, or in dlib's reading of any
re-rendered face? (issue 27)

For each driver and portrait (60 frames), the correlation with the driver's yaw, pitch and roll
proxies (`face_measures.head_pose`, dlib on each image), and the mouth gain (the least-squares
slope of the mouth opening on the driver's, `cross_identity.gain`), of three things:
- `given`: the landmarks handed to the model, read directly (the transfer's ceiling);
- `warp`: the portrait's crop moved onto those landmarks by a piecewise-affine warp (the classical
  landmark warp, `evaluation.baselines.piecewise_affine_warp`), then read by dlib;
- `model`: the model's output (`tiw animate`'s Animator, shipped defaults), read by dlib.
If `warp` reads as low as `model`, re-rendering a face and reading it back is the limit, not the
model; if `warp` reads near `given`, the model loses pose in rendering. Each driver's spread of
its own pose proxies (standard deviation over the frames) is printed too: a driver whose head
barely moves gives correlations of dlib's jitter.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/expressions/rendering_readback.py \
        [--weights W] [--split dev] [--max-frames 60] [--drivers CLIP...] [--portraits DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "benchmarks/expressions"), str(ROOT / "benchmarks")]
import cross_identity  # noqa: E402
from pose_diagnosis import correlations, poses  # noqa: E402

from tiwcli.evaluation.baselines import piecewise_affine_warp  # noqa: E402
from tiwcli.evaluation.metrics.landmarks import mouth_opening  # noqa: E402
from tiwcli.io.video import read_all_frames  # noqa: E402


def read_landmarks(analyzer, image: np.ndarray) -> np.ndarray | None:
    """dlib's (68, 2) landmarks of the first face in `image`; None without one."""
    faces = analyzer.detect(image)
    return faces[0].landmarks if faces else None


def mouth_gain(driver: list[np.ndarray | None], other: list[np.ndarray | None]) -> float:
    """The least-squares slope of `other`'s mouth opening on the driver's, over frames both have."""
    pairs = [(d, o) for d, o in zip(driver, other, strict=True) if d is not None and o is not None]
    return cross_identity.gain([mouth_opening(d) for d, _ in pairs], [mouth_opening(o) for _, o in pairs])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=ROOT / "weights/tiw-landmark-256.safetensors")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--max-frames", type=int, default=60)
    parser.add_argument("--drivers", type=Path, nargs="*")
    parser.add_argument("--portraits", type=Path)
    args = parser.parse_args(argv)
    data = ROOT / "data/train-256"
    drivers = args.drivers or sorted((data / args.split).glob("*.mp4"))
    portrait_dir = args.portraits or data / ("dev-portraits" if args.split == "dev" else "portraits")
    portraits = sorted(portrait_dir.glob("*.jpg"))
    animator = cross_identity.portrait_animator(args.weights, mouth_interior="driver")
    analyzer = animator.analyzer
    given = cross_identity.record_given_landmarks(animator)
    found: dict[str, list[list[float]]] = {"given": [], "warp": [], "model": []}
    print("driver portrait | yaw pitch roll correlation, mouth gain: given ; warp ; model")
    for driver in drivers:
        driving = read_all_frames(driver, max_frames=args.max_frames)
        crops = cross_identity.animator_driving_crops(animator, driving)
        spread = np.nanstd(poses([read_landmarks(analyzer, crop) for crop in crops]), axis=0)
        print(f"{driver.name}: pose spread (std) yaw, pitch, roll", np.round(spread, 3))
        per_driver: dict[str, list[list[float]]] = {name: [] for name in found}
        for portrait in portraits:
            given.clear()
            run = cross_identity.animate_portrait(animator, portrait, driving)
            size = run.source_crop.shape[0]
            source_faces = analyzer.detect(run.source_crop)
            if not source_faces or len(given) != len(run.outputs):
                print(f"{driver.name[:24]} {portrait.name}: no face in the source crop")
                continue
            source_points = source_faces[0].landmarks
            driver_pose = poses(run.driver_landmarks)
            targets = [cross_identity.crop_pixels(g, size) for g in given]
            read: dict[str, list[np.ndarray | None]] = {
                "given": list(targets),
                "warp": [
                    read_landmarks(analyzer, piecewise_affine_warp(run.source_crop, source_points, t))
                    for t in targets
                ],
                "model": run.output_landmarks,
            }
            line = []
            for name, landmarks in read.items():
                gain = mouth_gain(run.driver_landmarks, landmarks)
                values = [*correlations(driver_pose, poses(landmarks)), gain]
                found[name].append(values)
                per_driver[name].append(values)
                line.append(" ".join(f"{v:+.2f}" for v in values))
            print(f"{driver.name[:24]} {portrait.name[:20]} | " + " ; ".join(line), flush=True)
        print(
            f"{driver.name[:24]} mean | "
            + " ; ".join(" ".join(f"{v:+.2f}" for v in np.nanmean(per_driver[n], axis=0)) for n in found),
            flush=True,
        )
    for name, values in found.items():
        print(name, "yaw pitch roll gain", np.round(np.nanmean(values, axis=0), 3))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
