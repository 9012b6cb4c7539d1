"""Regenerate tests/golden/tiny_golden.safetensors: a seeded tiny model, real face
frames (carphone, centre square, 64 px) and the model's output on them.

Run only when the model changes on purpose: `python scripts/maintenance/make_golden.py`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tiwcli.checkpoint import save_tensors
from tiwcli.config import model_preset
from tiwcli.io.images import resize_image
from tiwcli.io.video import read_all_frames
from tiwcli.models import ImplicitWarping
from tiwcli.samples import sample_file

GOLDEN = Path(__file__).resolve().parents[2] / "tests" / "golden" / "tiny_golden.safetensors"


def real_frames(size: int) -> torch.Tensor:
    frames = read_all_frames(sample_file("carphone_pristine.mp4"), max_frames=100)
    picked = frames[[0, 40, 70, 99]]  # (4, 144, 176, 3)
    side = picked.shape[1]
    left = (picked.shape[2] - side) // 2
    crops = np.stack([resize_image(frame[:, left : left + side], (size, size)) for frame in picked])
    return torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255  # (4, 3, s, s)


def main() -> None:
    config = model_preset("tiny")
    torch.manual_seed(1234)
    model = ImplicitWarping(config).eval()
    frames = real_frames(config.image_size)
    sources, driving = frames[None, :2], frames[2:]  # (1, 2, 3, s, s), (2, 3, s, s)
    with torch.inference_mode():
        output = model.animate(model.encode_sources(sources), model.keypoint_detector(driving))
    tensors = {f"model.{name}": tensor for name, tensor in model.state_dict().items()}
    tensors.update({"sources": sources, "driving": driving, "output": output})
    save_tensors(GOLDEN, tensors, {"config": config.to_json(), "torch": torch.__version__})
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    main()
