"""Cross-identity figure: still portraits of people never trained on, driven by a clip of someone else.

    .venv/bin/python benchmarks/cross_identity.py --weights W.safetensors --data data/train-256 \
        [--driving CLIP] [--start-frame 0] [--portraits DIR] [--max-frames 60] \
        [--json OUT.json] [--grid OUT.png]

The same on the dev side, to choose weights without looking at the test portraits or clip:
    ... --portraits data/train-256/dev-portraits \
        --driving data/train-256/dev/carphone_pristine_1212d8b3_000.mp4

For each portrait in DATA/portraits/ (from scripts/data/make_training_dataset.py), `tiw animate`'s
Animator (face crop on, relative motion, no paste-back) drives it with a test clip, and dlib
scores every output frame:
- face found: share of output frames where dlib's HOG detector finds a face; face found (any): where
  HOG or dlib's CNN detector (MMOD, pose-tolerant) does (benchmarks/expressions/RULE.md, fifth rule);
- identity distance: dlib ResNet embedding distance between output and source (< 0.6: same person);
- mouth correlation: Pearson correlation over frames between the driver's and the output's mouth
  opening (inner-lip gap / outer eye-corner distance), where both have a face;
- mouth gain: the least-squares slope of the output's mouth opening on the driver's: how far the
  output's mouth opens when the driver's does (1: as far; 0: not at all). Correlation says whether
  it follows, gain says how much; a mouth that barely moves can still correlate.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tiwcli.checkpoint import load_model
from tiwcli.choices import MouthInterior, MouthReference, choices
from tiwcli.evaluation.metrics.landmarks import mouth_opening
from tiwcli.faces.backends import dlib_model_folder, load_face_analyzer
from tiwcli.inference import framing
from tiwcli.inference.animator import Animator
from tiwcli.inference.options import AnimateOptions
from tiwcli.io.images import load_image, save_image
from tiwcli.io.video import read_all_frames


@dataclass
class PortraitRun:
    """One portrait animated by one driving clip, with what dlib saw in every frame."""

    source_crop: np.ndarray  # (S, S, 3) the portrait as the model sees it
    outputs: list[np.ndarray]  # (S, S, 3) per driving frame
    drivers: list[np.ndarray]  # (S, S, 3) the driving crop of each frame
    output_landmarks: list[np.ndarray | None]  # (68, 2) per output frame; None: no face found
    driver_landmarks: list[np.ndarray | None]  # (68, 2) per driving crop; None: no face found
    identity_distances: list[float]  # per output frame with a face (when the source has one)
    output_face_any: list[bool]  # per output frame: HOG or dlib's CNN detector finds a face


@functools.cache
def _cnn_detector():
    """dlib's CNN face detector (MMOD), from face-recognition-models: pose-tolerant where HOG is not."""
    import dlib

    return dlib.cnn_face_detection_model_v1(str(dlib_model_folder() / "mmod_human_face_detector.dat"))


def cnn_finds_face(image: np.ndarray) -> bool:
    """Whether dlib's CNN detector finds a face in an (H, W, 3) uint8 RGB image (no upsampling)."""
    return len(_cnn_detector()(np.ascontiguousarray(image), 0)) > 0


def animate_portrait(animator: Animator, portrait: Path, driving: np.ndarray) -> PortraitRun:
    """Drive `portrait` with `driving` frames through `animator`; dlib on every output and driving crop."""
    analyzer = animator.analyzer
    sources = animator.sources_from_images([load_image(portrait)], [portrait.name])
    source_crop = sources.crops[0]
    source_faces = analyzer.detect(source_crop)
    source_embedding = analyzer.embedding(source_crop, source_faces[0]) if source_faces else None
    run = PortraitRun(source_crop, [], [], [], [], [], [])
    for batch in animator.animate(sources, lambda: iter(driving), portrait.name):
        for result, drive in zip(batch.results, batch.driving, strict=True):
            run.outputs.append(result)
            run.drivers.append(drive)
            faces = analyzer.detect(result)
            run.output_landmarks.append(faces[0].landmarks if faces else None)
            run.output_face_any.append(bool(faces) or cnn_finds_face(result))  # CNN only where HOG misses
            driver_faces = analyzer.detect(drive) if faces else []  # only frames with an output face count
            run.driver_landmarks.append(driver_faces[0].landmarks if driver_faces else None)
            if faces and source_embedding is not None:
                embedding = analyzer.embedding(result, faces[0])
                run.identity_distances.append(float(np.linalg.norm(embedding - source_embedding)))
    return run


def record_given_landmarks(animator: Animator) -> list[np.ndarray]:
    """A list that fills with the (68, 2) landmarks handed to the model, one per driving frame
    (crop [-1, 1]), as `animator` drives it; clear it between portraits."""
    given: list[np.ndarray] = []
    animate = animator.model.animate

    def recording(encoding, motion, driving_landmarks=None, *args, **kwargs):
        if driving_landmarks is not None:
            given.extend(driving_landmarks.float().cpu().numpy())
        return animate(encoding, motion, driving_landmarks, *args, **kwargs)

    animator.model.animate = recording
    return given


def crop_pixels(points: np.ndarray, size: int) -> np.ndarray:
    """Landmarks (..., 2) in a crop's [-1, 1] -> pixel coordinates of a size x size crop, as dlib's."""
    return (points + 1) * size / 2 - 0.5


def both_faces(run: PortraitRun) -> list[tuple[np.ndarray, np.ndarray]]:
    """(driver landmarks, output landmarks) of the frames where both have a face."""
    pairs = zip(run.driver_landmarks, run.output_landmarks, strict=True)
    return [(driver, output) for driver, output in pairs if driver is not None and output is not None]


def correlation(driver: list[float], output: list[float]) -> float:
    """Pearson correlation over frames; NaN with fewer than 3 frames or a side that never changes."""
    if len(driver) > 2 and np.std(driver) > 0 and np.std(output) > 0:
        return float(np.corrcoef(driver, output)[0, 1])
    return float("nan")


def gain(driver: list[float], output: list[float]) -> float:
    """Least-squares slope of the output's values on the driver's; NaN where the driver never changes."""
    if len(driver) > 2 and np.std(driver) > 0:
        return float(np.polyfit(driver, output, 1)[0])
    return float("nan")


def portrait_record(name: str, run: PortraitRun) -> dict:
    """The figures of one portrait: face found, identity distance, mouth correlation and gain."""
    pairs = both_faces(run)
    driver_mouth = [mouth_opening(driver) for driver, _ in pairs]
    output_mouth = [mouth_opening(output) for _, output in pairs]
    distances = run.identity_distances
    return {
        "portrait": name,
        "frames": len(run.outputs),
        "face_found": float(np.mean([points is not None for points in run.output_landmarks])),
        "face_found_any": float(np.mean(run.output_face_any)),
        "identity_distance": float(np.mean(distances)) if distances else float("nan"),
        "mouth_correlation": correlation(driver_mouth, output_mouth),
        "mouth_gain": gain(driver_mouth, output_mouth),
    }


def score_portrait(animator: Animator, portrait: Path, driving: np.ndarray) -> tuple[dict, np.ndarray]:
    run = animate_portrait(animator, portrait, driving)
    return portrait_record(portrait.name, run), np.stack([run.source_crop, *run.outputs])


def portrait_animator(
    weights: Path,
    find_best_frame: bool = False,
    mouth_reference: str = AnimateOptions.mouth_reference,
    mouth_interior: str = "warp",
    source_mouth: str = AnimateOptions.source_mouth,
    mouth_scale: float = AnimateOptions.mouth_scale,
) -> Animator:
    """`tiw animate`'s Animator on the CPU with dlib: face crop on, relative motion, no paste-back;
    by default without the driver's mouth interior (the model's own figures, as every dev rule
    scored them; `tiw animate`'s default paints it: `mouth_interior="driver"`)."""
    options = AnimateOptions(
        paste_back=False,
        face_backend="dlib",
        device="cpu",
        find_best_frame=find_best_frame,
        mouth_reference=mouth_reference,
        mouth_interior=mouth_interior,
        source_mouth=source_mouth,
        mouth_scale=mouth_scale,
    )
    return Animator(load_model(weights), options, load_face_analyzer("dlib"))


def grid(rows: list[np.ndarray], driving: np.ndarray, columns: int = 6) -> np.ndarray:
    """Top row: blank + driving frames; then per portrait: source, outputs at the same frames."""
    picks = np.linspace(0, len(driving) - 1, columns).round().astype(int)
    blank = np.full_like(driving[0], 255)
    lines = [np.concatenate([blank, *driving[picks]], axis=1)]
    lines += [np.concatenate([row[0], *row[1:][picks]], axis=1) for row in rows]
    return np.concatenate(lines, axis=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("data/train-256"))
    parser.add_argument("--driving", type=Path, default=None, help="default: the first cap13 test clip")
    parser.add_argument("--portraits", type=Path, default=None, help="default: DATA/portraits")
    parser.add_argument("--max-frames", type=int, default=60)
    parser.add_argument(
        "--start-frame", type=int, default=0, help="skip this many driving frames (the clip starts there)"
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--grid", type=Path, default=None)
    parser.add_argument(
        "--find-best-frame", action="store_true", help="as `tiw animate --find-best-frame` (reference frame)"
    )
    parser.add_argument(
        "--mouth-reference",
        choices=choices(MouthReference),
        default=AnimateOptions.mouth_reference,
        help="as `tiw animate`'s (its default too)",
    )
    parser.add_argument(
        "--mouth-interior",
        choices=choices(MouthInterior),
        default="warp",
        help="as `tiw animate`'s; default warp: the model's own figures (tiw animate's default: driver)",
    )
    parser.add_argument(
        "--mouth-scale",
        type=float,
        default=AnimateOptions.mouth_scale,
        help="as `tiw animate`'s (its default); the dev curve's rows are at 1 (scripts/evaluation/"
        "eval_dev_expressions.sh)",
    )
    parser.add_argument(
        "--no-look-ahead",
        action="store_true",
        help="as `tiw live`: the closed mouth from the frames so far only, none read ahead",
    )
    args = parser.parse_args(argv)
    if args.no_look_ahead:  # the track's look-ahead reads as "no face ahead", as live's None does
        framing._least_opening_ahead = lambda track, index, openings: float("nan")
    driving_path = args.driving or sorted((args.data / "test").glob("cap13*.mp4"))[0]
    driving = read_all_frames(driving_path, max_frames=args.start_frame + args.max_frames)[args.start_frame :]
    if len(driving) < 3:
        parser.error(f"{driving_path}: fewer than 3 frames after --start-frame {args.start_frame}")
    animator = portrait_animator(
        args.weights,
        args.find_best_frame,
        args.mouth_reference,
        args.mouth_interior,
        mouth_scale=args.mouth_scale,
    )
    records, rows = [], []
    for portrait in sorted((args.portraits or args.data / "portraits").glob("*.jpg")):
        record, row = score_portrait(animator, portrait, driving)
        records.append(record)
        rows.append(row)
        print(json.dumps(record), flush=True)
    summary = {
        key: float(np.nanmean([r[key] for r in records]))
        for key in ("face_found", "face_found_any", "identity_distance", "mouth_correlation", "mouth_gain")
    }
    report = {
        "weights": str(args.weights),
        "driving": driving_path.name,
        "start_frame": args.start_frame,
        "find_best_frame": args.find_best_frame,
        "mouth_reference": args.mouth_reference,
        "mouth_interior": args.mouth_interior,
        "look_ahead": not args.no_look_ahead,
        "summary": summary,
        "portraits": records,
    }
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    if args.grid:
        save_image(args.grid, grid(rows, animator_driving_crops(animator, driving)))
    return 0


def animator_driving_crops(animator: Animator, driving: np.ndarray) -> np.ndarray:
    return np.stack([animator.fit(frame) for frame in driving])


if __name__ == "__main__":
    sys.exit(main())
