"""Does a 3D head turn carry the driver's pose better than relative motion's added landmark
deltas? (issue 27, head-pose following). For the 8 dev portraits driven by the four dev driver
clips (60 frames), the correlation of the landmarks handed to the model with the driver's yaw,
pitch and roll proxies (`face_measures.head_pose`), two ways: `added` (`motion_landmarks`, the
default: the driver's landmark changes added to the portrait's) and `turned`
(`controlled_landmarks` at default controls: the driver's fitted 3D pose change applied to the
portrait's face lifted to 3D). No model is run: this is the ceiling the output can follow.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/expressions/pose_transfer.py
"""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "benchmarks/expressions"), str(ROOT / "benchmarks")]
import cross_identity  # noqa: E402
from pose_diagnosis import correlations, poses  # noqa: E402

from tiwcli.inference.motion import landmarks_in_crop, motion_landmarks  # noqa: E402
from tiwcli.inference.motion_controls import MotionControls, controlled_landmarks  # noqa: E402
from tiwcli.io.images import load_image  # noqa: E402
from tiwcli.io.video import read_all_frames  # noqa: E402


def main() -> int:
    animator = cross_identity.portrait_animator(
        ROOT / "weights/tiw-landmark-256.safetensors", mouth_interior="driver"
    )
    drivers = sorted((ROOT / "data/train-256/dev").glob("*.mp4"))
    portraits = sorted((ROOT / "data/train-256/dev-portraits").glob("*.jpg"))
    found: dict[str, list[list[float]]] = {"added": [], "turned": []}
    for driver in drivers:
        crops = cross_identity.animator_driving_crops(animator, read_all_frames(driver, max_frames=60))
        size = crops[0].shape[0]
        driving = np.stack(
            [
                landmarks_in_crop(
                    faces[0].landmarks if (faces := animator.analyzer.detect(crop)) else None, None, size
                )
                for crop in crops
            ]
        )  # (t, 68, 2)
        driver_poses = poses(driving)
        references = animator.landmark_references(None, driving)
        for portrait in portraits:
            anchor = animator.sources_from_images([load_image(portrait)], [portrait.name]).landmarks[0]
            given = {
                "added": motion_landmarks(driving, references, anchor, "relative"),
                "turned": controlled_landmarks(
                    driving, driving[:1] if references is None else references, anchor, MotionControls()
                ),
            }
            for name, landmarks in given.items():
                found[name].append(correlations(driver_poses, poses(landmarks)))
            added, turned = (np.round(found[name][-1], 2) for name in ("added", "turned"))
            print(driver.name[:20], portrait.name, "added", added, "turned", turned, flush=True)
    for name, values in found.items():
        print(name, np.round(np.nanmean(values, axis=0), 3))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
