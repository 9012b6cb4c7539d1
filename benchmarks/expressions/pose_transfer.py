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
from face_measures import head_pose  # noqa: E402

from tiwcli.inference.motion import landmarks_in_crop, motion_landmarks  # noqa: E402
from tiwcli.inference.motion_controls import MotionControls, controlled_landmarks  # noqa: E402
from tiwcli.io.images import load_image  # noqa: E402
from tiwcli.io.video import read_all_frames  # noqa: E402


def corr(a, b):
    ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    return [float(np.corrcoef(a[ok, i], b[ok, i])[0, 1]) for i in range(3)]


animator = cross_identity.portrait_animator(
    ROOT / "weights/tiw-landmark-256.safetensors", mouth_interior="driver"
)
an = animator.analyzer
D = ROOT / "data/train-256/dev"
drivers = sorted(D.glob("*.mp4"))
portraits = sorted((ROOT / "data/train-256/dev-portraits").glob("*.jpg"))
res = {"added": [], "turned": []}
for drv in drivers:
    frames = read_all_frames(drv, max_frames=60)
    crops = cross_identity.animator_driving_crops(animator, frames)
    size = crops[0].shape[0]
    L = []
    for c in crops:
        f = an.detect(c)
        L.append(landmarks_in_crop(f[0].landmarks if f else None, None, size))
    L = np.stack(L)
    dpose = np.stack([head_pose(x) if np.isfinite(x).all() else np.full(3, np.nan) for x in L])
    refs = animator.landmark_references(None, L)
    for p in portraits:
        src = animator.sources_from_images([load_image(p)], [p.name])
        anchor = src.landmarks[0]
        add = motion_landmarks(L, refs, anchor, "relative")
        turn = controlled_landmarks(L, L[:1] if refs is None else refs, anchor, MotionControls())
        for name, g in (("added", add), ("turned", turn)):
            gp = np.stack([head_pose(x) if np.isfinite(x).all() else np.full(3, np.nan) for x in g])
            c = corr(dpose, gp)
            res[name].append(c)
        print(
            drv.name[:20],
            p.name,
            "added",
            np.round(res["added"][-1], 2),
            "turned",
            np.round(res["turned"][-1], 2),
            flush=True,
        )
for k, v in res.items():
    print(k, np.round(np.nanmean(v, axis=0), 3))
