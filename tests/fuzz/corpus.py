"""The real files every case starts from, made once per process in a folder of their own (small on
purpose, so a case takes about a second on a CPU)."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIPPED_WEIGHTS = REPO / "weights" / "tiw-landmark-256.safetensors"
CLIP_FRAMES = 4
PHOTO_WIDTH = 240


@dataclass(frozen=True)
class Corpus:
    photo: Path  # a real face photo, PHOTO_WIDTH wide (JPEG)
    clip: Path  # CLIP_FRAMES frames of a real talking-head clip (176x144 H.264)
    weights: Path  # an untrained `tiny` checkpoint
    shipped_weights: Path  # the shipped landmark-256 weights (read, never written)
    run: Path  # a `tiny` training run of 2 steps, a checkpoint at each
    data: Path  # a dataset: train/ with two 64 px clips, test/ with one


def build_corpus(folder: Path) -> Corpus:
    import torch
    from PIL import Image

    from tiwcli.checkpoint import save_model
    from tiwcli.config import model_preset
    from tiwcli.io.images import resize_image
    from tiwcli.io.video import VideoWriter, read_all_frames
    from tiwcli.models import ImplicitWarping
    from tiwcli.samples import sample_file

    folder.mkdir(parents=True, exist_ok=True)
    photo = folder / "photo.jpg"
    image = Image.open(sample_file("single_face.jpg")).convert("RGB")
    image.resize((PHOTO_WIDTH, round(image.height * PHOTO_WIDTH / image.width))).save(photo, quality=90)
    clip = folder / "clip.mp4"
    frames = read_all_frames(sample_file("carphone_pristine.mp4"), 16)
    with VideoWriter(clip, 25) as writer:
        writer.write_batch(frames[:CLIP_FRAMES])
    torch.manual_seed(0)
    weights = folder / "tiny.safetensors"
    save_model(weights, ImplicitWarping(model_preset("tiny")))
    data = folder / "data"
    for split, start in (("train", 0), ("train", 4), ("test", 8)):
        (data / split).mkdir(parents=True, exist_ok=True)
        with VideoWriter(data / split / f"clip{start}.mp4", 25) as writer:
            for frame in frames[start : start + 8]:
                writer.write(resize_image(frame[:, 16:160], (64, 64)))
    run = folder / "run"
    _train(["--data", data, "--out", run, "--preset", "tiny", "--steps", 2, "--batch-size", 1,
            "--checkpoint-every", 1, "--keep", 2, "--sample-every", 1000, "--no-progress"])  # fmt: skip
    return Corpus(photo, clip, weights, SHIPPED_WEIGHTS, run, data)


def _train(arguments: list[object]) -> None:
    from typer.testing import CliRunner

    from tiwcli.cli import app

    with contextlib.redirect_stderr(io.StringIO()):
        result = CliRunner().invoke(app, ["train", *map(str, arguments)])
    if result.exit_code != 0:
        raise RuntimeError(f"could not make the fuzz corpus's training run: {result.output}")
