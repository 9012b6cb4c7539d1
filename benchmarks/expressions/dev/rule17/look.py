import sys
from pathlib import Path
import numpy as np
sys.path[:0] = ["/work/main/benchmarks/expressions", "/work/main/benchmarks"]
import cross_identity
from tiwcli.io.video import read_all_frames
from tiwcli.io.images import save_image
from tiwcli.inference.motion import mouth_openings, landmarks_in_crop
W = Path("/work/main/weights/tiw-landmark-256.safetensors")
driver = Path(sys.argv[1]); out = Path(sys.argv[2]); scales = [float(s) for s in sys.argv[3].split(",")]
portraits = [Path("/work/main/data/train-256/dev-portraits") / p for p in sys.argv[4:]]
driving = read_all_frames(driver, max_frames=60)
rows = []
picks = None
for portrait in portraits:
    outs = []
    for s in scales:
        an = cross_identity.portrait_animator(W, mouth_interior="driver", mouth_scale=s)
        run = cross_identity.animate_portrait(an, portrait, driving)
        outs.append(np.stack(run.outputs))
        if picks is None:
            op = np.array([mouth_openings(landmarks_in_crop(l, None, 256)) if l is not None else np.nan for l in run.driver_landmarks])
            picks = np.argsort(np.nan_to_num(op, nan=-1))[-5:][::-1]
            drv = np.stack(run.drivers)
            rows.append(np.concatenate([np.full_like(drv[0], 255), *drv[picks]], axis=1))
    for s, o in zip(scales, outs):
        rows.append(np.concatenate([run.source_crop, *o[picks]], axis=1))
save_image(out, np.concatenate(rows, axis=0))
print(out, picks)
