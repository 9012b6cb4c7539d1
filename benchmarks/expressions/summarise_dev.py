"""The table of benchmarks/expressions/RULE.md: dev scores of each candidate folder, and the choice.

    .venv/bin/python benchmarks/expressions/summarise_dev.py [--faces any] runs/dev/A runs/dev/B ...

Each folder holds what `scripts/evaluation/eval_dev_expressions.sh W FOLDER` wrote: dev_eval.json (dev
self-reenactment, 1 and 3 sources), dev_cross.json (dev portraits driven by carphone) and
dev_cross_retalking4.json (driven by retalking-4). The first folder is A, the shipped weights.
`--faces any` applies the fifth rule: the 95% condition on `face_found_any` (dlib's HOG or CNN detector
finds a face) instead of HOG's `face_found`; folders scored before that measure existed cannot pass it.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def scores(folder: Path) -> dict[str, float]:
    evaluation = json.loads((folder / "dev_eval.json").read_text())
    psnr = {row["num_sources"]: row["metrics"]["psnr"]["value"] for row in evaluation["rows"]}
    crosses = [
        json.loads((folder / name).read_text()) for name in ("dev_cross.json", "dev_cross_retalking4.json")
    ]
    means = [cross["summary"] for cross in crosses]
    return {
        "psnr1": psnr[1],
        "psnr3": psnr[3],
        "psnr": (psnr[1] + psnr[3]) / 2,
        "faces": min(mean["face_found"] for mean in means),
        "faces_any": min(mean.get("face_found_any", math.nan) for mean in means),
        "identity": max(mean["identity_distance"] for mean in means),
        "mouth": sum(mean["mouth_correlation"] for mean in means) / 2,
        "gain": sum(mean["mouth_gain"] for mean in means) / 2,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", choices=("hog", "any"), default="hog", help="the 95%% condition's measure")
    parser.add_argument("folders", nargs="+")
    args = parser.parse_args(argv)
    rows = {Path(folder).name: scores(Path(folder)) for folder in args.folders}
    shipped = next(iter(rows.values()))
    faces_key = "faces" if args.faces == "hog" else "faces_any"
    header = ("candidate", "PSNR 1", "PSNR 3", "mean", "faces", "any", "ident", "mouth", "gain")
    print(f"{header[0]:<34} " + " ".join(f"{name:>7}" for name in header[1:4]), end=" ")
    print(" ".join(f"{name:>6}" for name in header[4:8]) + f" {header[8]:>5}  ok")
    passing = {}
    for name, row in rows.items():
        faces_ok = row[faces_key] >= 0.95  # NaN (not measured) fails
        ok = faces_ok and row["identity"] <= 0.35 and row["mouth"] >= shipped["mouth"] - 0.02
        if ok:
            passing[name] = row["psnr"]
        any_text = "   n/a" if math.isnan(row["faces_any"]) else f"{row['faces_any']:6.1%}"
        print(
            f"{name:<34} {row['psnr1']:7.2f} {row['psnr3']:7.2f} {row['psnr']:7.3f} {row['faces']:6.1%} "
            f"{any_text} {row['identity']:6.3f} {row['mouth']:6.3f} {row['gain']:5.2f}  "
            f"{'yes' if ok else 'no'}"
        )
    best = max(passing, key=passing.get) if passing else None
    first = next(iter(rows))
    ships = best is not None and best != first and passing[best] > shipped["psnr"]
    print(f"chosen: {best}; replaces the shipped weights: {'yes' if ships else 'no'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
