"""Issue 27's measurements in one run: self-reenactment, cross-identity expressions, a sheet.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/expressions/measure.py \\
        --weights weights/tiw-landmark-256.safetensors --data data/train-256 \\
        [--split test] [--max-frames 48] [--drivers CLIP ...] [--portraits DIR] \\
        [--json OUT.json] [--sheet OUT.jpg] [--mouth-interior warp|driver] \\
        [--source-mouth as-is|closed] [--mouth-scale S] [--no-self-reenactment]

1. Self-reenactment on the split's clips, 1 and 3 sources: L1, PSNR, SSIM of the model, copy-source
   and landmark-warp, from `tiw eval`'s library (`tiwcli.evaluation.protocols.evaluate_data`, same
   frames, same stored landmarks). Sharpness: a second pass over the same frames with the same
   methods, the output's variance of the Laplacian on the face box over the real frame's
   (`face_measures.sharpness_ratio`), mean over frames.
2. Cross-identity: every portrait in DATA/portraits driven by each driver (default: the 3 clips of
   the split whose stored landmarks open the mouth the most variably over the first --max-frames
   frames, one per person) through `tiw animate`'s Animator (benchmarks/cross_identity.py):
   identity distance, face found, mouth correlation and gain, and teeth and head-pose (yaw, pitch,
   roll) correlation between driver and output (`face_measures`); face found also by either dlib
   detector (`face_found_any`, RULE.md's fifth rule). --mouth-interior as `tiw animate`'s.
3. --sheet: 6 portraits x 6 frames of the first driver (most mouth motion), its frames on top.
Prints one table; --json writes per-driver and mean figures with issue 27's targets, pass or fail.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import cross_identity  # noqa: E402  (benchmarks/cross_identity.py)
from face_measures import head_pose, pupil_position, sharpness_ratio, teeth_share  # noqa: E402

from tiwcli.checkpoint import load_model  # noqa: E402
from tiwcli.choices import MouthInterior, SourceMouth, choices  # noqa: E402
from tiwcli.dataset.layout import landmarks_path, list_clips, stored_landmarks  # noqa: E402
from tiwcli.evaluation.baselines import BASELINES, DrivingFrames, LandmarkWarp  # noqa: E402
from tiwcli.evaluation.people import clip_people  # noqa: E402
from tiwcli.evaluation.protocols import (  # noqa: E402
    MODEL_METHOD,
    ModelMethod,
    driving_indices,
    evaluate_data,
    source_indices,
)
from tiwcli.evaluation.report import EvalSettings  # noqa: E402
from tiwcli.faces.backends import load_face_analyzer  # noqa: E402
from tiwcli.inference.motion import mouth_openings  # noqa: E402
from tiwcli.inference.options import AnimateOptions  # noqa: E402
from tiwcli.io.frames import resize_frames  # noqa: E402
from tiwcli.io.images import save_image  # noqa: E402
from tiwcli.io.video import read_all_frames  # noqa: E402

NUM_SOURCES = (1, 3)
PIXEL_METRICS = ("l1", "psnr", "ssim")
CROSS_FIGURES = (
    "identity_distance",
    "face_found",
    "face_found_any",
    "mouth_correlation",
    "mouth_gain",
    "teeth_correlation",
    "yaw_correlation",
    "pitch_correlation",
    "roll_correlation",
    "gaze_correlation",
)
TEETH_MEANS = ("driver_teeth_mean", "output_teeth_mean")  # in the JSON: how much teeth each shows
SHEET_PORTRAITS = 6
SHEET_FRAMES = 6
PSNR_MARGIN = 0.5  # dB over landmark-warp
BATCH = 8  # driving frames per render call, as tiw eval's default
Progress = Callable[[str], None]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- self-reenactment


def self_reenactment(weights: Path, data: Path, split: str, max_frames: int, progress: Progress) -> dict:
    """{method: {N: {l1, psnr, ssim, sharpness}}} over the split's clips, 1 and 3 sources."""
    settings = EvalSettings(
        metrics=PIXEL_METRICS,
        num_sources=NUM_SOURCES,
        baselines=BASELINES,
        max_frames=max_frames,
        face_backend="dlib",
    )
    report = evaluate_data(data, settings, split=split, weights=weights, device="cpu", progress=progress)
    table: dict[str, dict[int, dict[str, float | None]]] = {}
    for row in report.rows:
        cells = {name: row.metrics[name].value for name in PIXEL_METRICS}
        table.setdefault(row.method, {})[row.num_sources] = cells
    sharpness = sharpness_by_method(weights, list_clips(data, split), max_frames, progress)
    for (method, n), value in sharpness.items():
        table[method][n]["sharpness"] = value
    return {"clips": len(list_clips(data, split)), "notes": report.notes, "rows": table}


def sharpness_by_method(
    weights: Path, clips: Sequence[Path], max_frames: int, progress: Progress
) -> dict[tuple[str, int], float]:
    """Mean output/real Laplacian-variance ratio on the face per (method, N), on `tiw eval`'s frames
    (`source_indices`, `driving_indices`) and with the clips' stored landmarks, as evaluate_data."""
    model = load_model(weights, device="cpu")
    analyzer = load_face_analyzer("dlib")
    size = model.config.image_size
    methods = [ModelMethod(model, lambda: analyzer), LandmarkWarp(analyzer)]
    ratios: dict[tuple[str, int], list[float]] = {(m.name, n): [] for m in methods for n in NUM_SOURCES}
    for index, clip in enumerate(clips):
        progress(f"sharpness pass, clip {index + 1}/{len(clips)}: {clip.name}")
        frames = resize_frames(read_all_frames(clip), size, size)
        if len(frames) <= max(NUM_SOURCES):
            continue
        stored = stored_landmarks(clip, len(frames), size)  # None: the methods detect, as in tiw eval
        times = driving_indices(len(frames), NUM_SOURCES, max_frames)
        for n in NUM_SOURCES:
            chosen = source_indices(len(frames), n)
            for method in methods:
                method.prepare(frames[chosen], chosen, picked(stored, chosen))
                for start in range(0, len(times), BATCH):
                    part = times[start : start + BATCH]
                    outputs = method.render(DrivingFrames(frames[part], part, picked(stored, part)))
                    for output, t in zip(outputs, part, strict=True):
                        box_landmarks = None if stored is None else stored[t]
                        ratios[(method.name, n)].append(sharpness_ratio(output, frames[t], box_landmarks))
    return {key: float(np.mean(values)) for key, values in ratios.items() if values}


def picked(landmarks: list[np.ndarray | None] | None, indices: np.ndarray) -> list[np.ndarray | None] | None:
    return None if landmarks is None else [landmarks[index] for index in indices]


# ---------------------------------------------------------------------------- cross-identity


def mouth_motion(clip: Path, max_frames: int) -> float:
    """Standard deviation of the mouth opening over the clip's first frames (its stored landmarks)."""
    path = landmarks_path(clip)
    if not path.exists():
        return float("nan")
    openings = mouth_openings(np.load(path)[:max_frames].astype(np.float64))  # scale-free: any units
    return float(np.nanstd(openings)) if np.isfinite(openings).sum() > 2 else float("nan")


def talking_drivers(clips: Sequence[Path], max_frames: int, count: int = 3) -> list[tuple[Path, float]]:
    """The `count` clips with the most variable mouth opening, at most one per person (`tiw eval`'s
    `clip_people`: the manifest's person, else the source video, merged when the faces match)."""
    people = clip_people(clips, load_face_analyzer("dlib"))
    scored = sorted(
        ((clip, mouth_motion(clip, max_frames), person) for clip, person in zip(clips, people, strict=True)),
        key=lambda item: -item[1] if np.isfinite(item[1]) else math.inf,
    )
    chosen, seen = [], set()
    for clip, motion, person in scored:
        if np.isfinite(motion) and person not in seen:
            chosen.append((clip, motion))
            seen.add(person)
    return chosen[:count]


def expression_record(name: str, run: cross_identity.PortraitRun) -> dict:
    """cross_identity's figures of one portrait, plus teeth and head-pose correlation with the driver
    over the frames where both the driving crop and the output have a face."""
    record = cross_identity.portrait_record(name, run)
    driver_teeth, output_teeth, driver_pose, output_pose, driver_gaze, output_gaze = [], [], [], [], [], []
    for index, (driver, output) in enumerate(zip(run.driver_landmarks, run.output_landmarks, strict=True)):
        if driver is None or output is None:
            continue
        driver_teeth.append(teeth_share(run.drivers[index], driver))
        output_teeth.append(teeth_share(run.outputs[index], output))
        driver_pose.append(head_pose(driver))
        output_pose.append(head_pose(output))
        gazes = pupil_position(run.drivers[index], driver), pupil_position(run.outputs[index], output)
        if np.isfinite(gazes).all():
            driver_gaze.append(gazes[0])
            output_gaze.append(gazes[1])
    record["teeth_correlation"] = following(driver_teeth, output_teeth)
    record["driver_teeth_mean"] = float(np.mean(driver_teeth)) if driver_teeth else float("nan")
    record["output_teeth_mean"] = float(np.mean(output_teeth)) if output_teeth else float("nan")
    for axis, label in enumerate(("yaw", "pitch", "roll")):
        record[f"{label}_correlation"] = following(
            [pose[axis] for pose in driver_pose], [pose[axis] for pose in output_pose]
        )
    record["gaze_correlation"] = following(driver_gaze, output_gaze)
    return record


def following(driver: list[float], output: list[float]) -> float:
    """`cross_identity.correlation`, but 0 where the driver changes and the output never does (no
    teeth ever shown does not follow a driver who shows them); NaN where the driver never changes."""
    if len(driver) > 2 and np.std(driver) > 0 and np.std(output) == 0:
        return 0.0
    return cross_identity.correlation(driver, output)


def mean_figures(records: Sequence[dict]) -> dict[str, float]:
    return {key: nanmean([record[key] for record in records]) for key in (*CROSS_FIGURES, *TEETH_MEANS)}


def nanmean(values: Sequence[float]) -> float:
    finite = [value for value in values if value is not None and math.isfinite(value)]
    return float(np.mean(finite)) if finite else float("nan")


def cross_identity_figures(
    weights: Path,
    drivers: Sequence[Path],
    portraits: Sequence[Path],
    max_frames: int,
    sheet: Path | None,
    mouth_interior: str = AnimateOptions.mouth_interior,
    source_mouth: str = AnimateOptions.source_mouth,
    mouth_scale: float = AnimateOptions.mouth_scale,
) -> dict:
    """Every portrait driven by every driver; the sheet from the first driver's first portraits."""
    animator = cross_identity.portrait_animator(
        weights, mouth_interior=mouth_interior, source_mouth=source_mouth, mouth_scale=mouth_scale
    )
    per_driver = []
    for number, driver in enumerate(drivers):
        driving = read_all_frames(driver, max_frames=max_frames)
        records, rows = [], []
        for portrait in portraits:
            log(f"cross-identity driver {number + 1}/{len(drivers)} {driver.name}: {portrait.name}")
            run = cross_identity.animate_portrait(animator, portrait, driving)
            records.append(expression_record(portrait.name, run))
            if number == 0 and len(rows) < SHEET_PORTRAITS:
                rows.append(np.stack([run.source_crop, *run.outputs]))
        per_driver.append(
            {
                "driver": driver.name,
                "frames": len(driving),
                "mean": mean_figures(records),
                "portraits": records,
            }
        )
        if number == 0 and sheet is not None:
            crops = cross_identity.animator_driving_crops(animator, driving)
            save_image(sheet, cross_identity.grid(rows, crops, columns=SHEET_FRAMES))
            log(f"sheet: {sheet}")
    mean = {
        key: nanmean([entry["mean"][key] for entry in per_driver]) for key in (*CROSS_FIGURES, *TEETH_MEANS)
    }
    return {"portraits": [p.name for p in portraits], "drivers": per_driver, "mean": mean}


# ---------------------------------------------------------------------------- targets


def target(name: str, value: float | None, goal: str, passed: bool) -> dict:
    return {"target": name, "value": value, "goal": goal, "pass": bool(passed)}


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def targets(reenactment: dict, cross: dict | None) -> list[dict]:
    """Issue 27's "Done means", each with the measured value and pass/fail (NaN fails)."""
    checks = []
    rows = reenactment.get("rows", {})
    for n in NUM_SOURCES if rows else ():
        model, warp = rows[MODEL_METHOD][n], rows["landmark-warp"][n]
        gap = model["psnr"] - warp["psnr"] if finite(model["psnr"]) and finite(warp["psnr"]) else None
        checks.append(
            target(
                f"PSNR - landmark-warp, {n} src (dB)",
                gap,
                f">= {PSNR_MARGIN}",
                finite(gap) and gap >= PSNR_MARGIN,
            )
        )
        l1_ok = finite(model["l1"]) and finite(warp["l1"]) and model["l1"] < warp["l1"]
        checks.append(target(f"L1, {n} src", model["l1"], f"< landmark-warp {warp['l1']:.4f}", l1_ok))
        sharp = model.get("sharpness")
        checks.append(
            target(f"sharpness output/real, {n} src", sharp, "0.9-1.1", finite(sharp) and 0.9 <= sharp <= 1.1)
        )
    if cross is None:
        return checks
    mean = cross["mean"]
    bounds = {
        "identity_distance": (None, 0.35),
        "face_found": (0.98, None),
        "mouth_correlation": (0.6, None),
        "mouth_gain": (0.7, 1.3),
        "teeth_correlation": (0.5, None),
        "yaw_correlation": (0.7, None),
        "pitch_correlation": (0.7, None),
        "roll_correlation": (0.7, None),
    }
    for key, (low, high) in bounds.items():
        value = mean[key]
        goal = (
            f"{low}-{high}"
            if low is not None and high is not None
            else (f">= {low}" if high is None else f"<= {high}")
        )
        passed = finite(value) and (low is None or value >= low) and (high is None or value <= high)
        checks.append(target(key.replace("_", " "), value, goal, passed))
    return checks


# ---------------------------------------------------------------------------- printing


def number(value: float | None, digits: int = 3) -> str:
    return "-" if not finite(value) else f"{value:.{digits}f}"


def table_lines(reenactment: dict, cross: dict | None, checks: list[dict]) -> list[str]:
    lines = [f"Self-reenactment ({reenactment.get('clips', 'not measured:')} clips)", ""]
    lines.append(f"{'method':<18}{'src':>4}{'L1':>9}{'PSNR':>9}{'SSIM':>9}{'sharpness':>11}")
    for method, by_n in reenactment.get("rows", {}).items():
        for n, cells in by_n.items():
            lines.append(
                f"{method:<18}{n:>4}{number(cells['l1'], 4):>9}{number(cells['psnr'], 2):>9}"
                f"{number(cells['ssim'], 3):>9}{number(cells.get('sharpness'), 3):>11}"
            )
    heads = ("ident", "face", "any", "mouth", "gain", "teeth", "yaw", "pitch", "roll", "gaze")
    if cross is not None:
        lines += ["", f"Cross-identity ({len(cross['portraits'])} portraits)", ""]
        lines.append(f"{'driver':<40}" + "".join(f"{head:>7}" for head in heads))
        for entry in [*cross["drivers"], {"driver": "mean", "mean": cross["mean"]}]:
            cells = "".join(f"{number(entry['mean'][key], 2):>7}" for key in CROSS_FIGURES)
            lines.append(f"{entry['driver'][:39]:<40}{cells}")
    lines += ["", f"{'target':<36}{'value':>9}  {'goal':<24}result"]
    for check in checks:
        result = "pass" if check["pass"] else "FAIL"
        lines.append(f"{check['target']:<36}{number(check['value'], 3):>9}  {check['goal']:<24}{result}")
    return lines


def without_nan(value):
    """JSON has no NaN: None in its place, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): without_nan(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_nan(item) for item in value]
    return value


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("data/train-256"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--max-frames", type=int, default=48, help="frames per clip and per driver")
    parser.add_argument("--drivers", type=Path, nargs="+", default=None, help="default: 3 talking test clips")
    parser.add_argument("--portraits", type=Path, default=None, help="default: DATA/portraits")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--sheet", type=Path, default=None, help="a JPEG of 6 portraits x 6 frames")
    parser.add_argument(
        "--mouth-interior",
        choices=choices(MouthInterior),
        default=AnimateOptions.mouth_interior,
        help="cross-identity: as `tiw animate`'s (self-reenactment always measures the model without it: "
        "the driver's mouth would be copied from the frame it is scored against)",
    )
    parser.add_argument(
        "--source-mouth",
        choices=choices(SourceMouth),
        default=AnimateOptions.source_mouth,
        help="cross-identity: as `tiw animate`'s",
    )
    parser.add_argument(
        "--mouth-scale",
        type=float,
        default=AnimateOptions.mouth_scale,
        help="cross-identity: as `tiw animate`'s",
    )
    parser.add_argument(
        "--no-self-reenactment",
        action="store_true",
        help="cross-identity figures only (e.g. on the dev side)",
    )
    parser.add_argument(
        "--no-cross-identity",
        action="store_true",
        help="self-reenactment figures only (e.g. a multi-source option: one portrait never uses it)",
    )
    args = parser.parse_args(argv)
    clips = list_clips(args.data, args.split)
    portrait_folder = args.portraits or args.data / "portraits"
    portraits = sorted(p for p in portrait_folder.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not portraits:
        parser.error(f"{portrait_folder}: no portraits (*.jpg, *.png)")
    if args.no_cross_identity:
        drivers = []
    elif args.drivers:
        drivers = [(clip, mouth_motion(clip, args.max_frames)) for clip in args.drivers]
    else:
        drivers = talking_drivers(clips, args.max_frames)
    for clip, motion in drivers:
        print(f"driver {clip.name}: mouth opening std {number(motion, 3)} (first {args.max_frames} frames)")
    reenactment = (
        {}
        if args.no_self_reenactment
        else self_reenactment(args.weights, args.data, args.split, args.max_frames, log)
    )
    cross = (
        None
        if args.no_cross_identity
        else cross_identity_figures(
            args.weights,
            [clip for clip, _ in drivers],
            portraits,
            args.max_frames,
            args.sheet,
            args.mouth_interior,
            args.source_mouth,
            args.mouth_scale,
        )
    )
    checks = targets(reenactment, cross)
    print("\n".join(table_lines(reenactment, cross, checks)))
    if args.json:
        report = {
            "weights": str(args.weights),
            "data": str(args.data),
            "split": args.split,
            "max_frames": args.max_frames,
            "mouth_interior": args.mouth_interior,
            "source_mouth": args.source_mouth,
            "mouth_scale": args.mouth_scale,
            "drivers": [{"clip": clip.name, "mouth_opening_std": motion} for clip, motion in drivers],
            "self_reenactment": reenactment,
            "cross_identity": cross,
            "targets": checks,
            "passed": sum(check["pass"] for check in checks),
            "of": len(checks),
        }
        args.json.write_text(json.dumps(without_nan(report), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
