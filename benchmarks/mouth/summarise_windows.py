"""The fifth try's table and verdict (benchmarks/mouth/RULE.md): "frame" against "closed" per driver window.

    .venv/bin/python benchmarks/mouth/summarise_windows.py benchmarks/mouth/windows [--data data/train-256] \
        [--modes frame closed]

Reads WINDOWS/frame/*.json and WINDOWS/closed/*.json (benchmarks/mouth/driver_windows.sh; or the
two `--modes` folders: the first is the baseline the rule compares against) and the
landmarks stored with each driving clip, for the driver's mouth opening at the window's first
frame (the reference of relative motion) and its least and largest in the window.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from tiwcli.inference.motion import mouth_openings

KEYS = ("face_found", "identity_distance", "mouth_correlation", "mouth_gain")


def driver_openings(data: Path, driving: str, start: int) -> np.ndarray:
    (path,) = data.glob(f"*/{Path(driving).stem}.landmarks.npy")
    landmarks = np.load(path)[start : start + 60]
    return mouth_openings(landmarks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("windows", type=Path)
    parser.add_argument("--data", type=Path, default=Path("data/train-256"))
    parser.add_argument("--modes", nargs=2, default=["frame", "closed"], metavar=("BASELINE", "OTHER"))
    args = parser.parse_args(argv)
    base, other = args.modes
    names = sorted(p.name for p in (args.windows / base).glob("*.json"))
    names = [n for n in names if (args.windows / other / n).exists()]
    rows = {base: [], other: []}
    print(f"| driver window | driver's mouth: first, least, largest | {base}: corr, gain ", end="")
    print(f"| {other}: corr, gain |")
    print("| --- | --- | --- | --- |")
    for name in names:
        reports = {m: json.loads((args.windows / m / name).read_text()) for m in rows}
        for mode, report in reports.items():
            rows[mode].append([report["summary"][k] for k in KEYS])
        first = reports[base]
        openings = driver_openings(args.data, first["driving"], first["start_frame"])
        f, c = reports[base]["summary"], reports[other]["summary"]
        print(
            f"| {Path(first['driving']).stem.split('_')[0]} from {first['start_frame']} "
            f"| {openings[0]:.3f}, {np.nanmin(openings):.3f}, {np.nanmax(openings):.3f} "
            f"| {f['mouth_correlation']:.2f}, {f['mouth_gain']:.2f} "
            f"| {c['mouth_correlation']:.2f}, {c['mouth_gain']:.2f} |"
        )
    means = {mode: np.nanmean(np.array(values), axis=0) for mode, values in rows.items()}
    print(f"\n{len(names)} windows, mean of the windows' means over the dev portraits:")
    print("| mouth reference | " + " | ".join(KEYS) + " |")
    print("| --- | --- | --- | --- | --- |")
    for mode, mean in means.items():
        print(f"| {mode} | " + " | ".join(f"{v:.3f}" for v in mean) + " |")
    frame, closed = means[base], means[other]
    passes = closed[0] >= 0.95 and closed[1] - frame[1] <= 0.02 and closed[2] > frame[2]
    at_least = closed[0] >= 0.95 and closed[1] - frame[1] <= 0.02 and closed[2] >= frame[2]
    print(f"\nrule (RULE.md, fifth try: correlation higher): {'passes' if passes else 'does not pass'}")
    print(f"rule (RULE.md, sixth check: correlation at least): {'passes' if at_least else 'does not pass'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
