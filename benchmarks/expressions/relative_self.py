"""Relative self-reenactment (RULE.md, seventeenth rule): each clip animated by `tiw animate`'s
Animator from its own first frame, driven by the clip itself, relative motion, and scored against
the real frames after the first (PSNR and L1 over the whole 256 x 256 frame, 0-255; the first is
the source itself, given back exactly). The issue's self-reenactment
(`measure.py`, `tiw eval`) is absolute and does not see options of relative motion such as
`--mouth-scale`; this does. Crop off (the clips are crops), dlib landmarks, the driver's mouth
interior off (it would be copied from the very frame it is scored against).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/expressions/relative_self.py WEIGHTS CLIP... \
        [--mouth-scale S ...] [--opening-way lips|jaw ...] [--max-frames 60] [--json OUT.json]

Each `--opening-way` (`motion.SCALED_OPENING`, the twenty-first rule) with each `--mouth-scale`;
rows are named by the scale, and by `WAY/S` when a way other than the shipped one is asked for.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from tiwcli.checkpoint import load_model
from tiwcli.evaluation.metrics.pixels import l1_per_frame, psnr_per_frame
from tiwcli.faces.backends import load_face_analyzer
from tiwcli.inference import motion
from tiwcli.inference.animator import Animator
from tiwcli.inference.options import AnimateOptions
from tiwcli.io.video import read_all_frames


def scores(outputs: np.ndarray, real: np.ndarray) -> tuple[float, float]:
    """(n, H, W, 3) uint8 pairs -> (mean PSNR over frames, mean L1), 0-255 scale, as `tiw eval`'s."""
    return float(psnr_per_frame(outputs, real).mean()), float(l1_per_frame(outputs, real).mean())


def animate_clip(animator: Animator, frames: np.ndarray) -> np.ndarray:
    sources = animator.sources_from_images([frames[0]], ["first frame"])
    results = [batch.results for batch in animator.animate(sources, lambda: iter(frames))]
    return np.concatenate(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("clips", type=Path, nargs="+")
    parser.add_argument("--mouth-scale", type=float, nargs="+", default=[AnimateOptions.mouth_scale])
    parser.add_argument(
        "--opening-way", choices=motion.OPENING_WAYS, nargs="+", default=[motion.SCALED_OPENING]
    )
    parser.add_argument("--max-frames", type=int, default=60)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    model = load_model(args.weights, device="cpu")
    analyzer = load_face_analyzer("dlib")
    table: dict[str, dict[str, dict[str, float]]] = {}
    shipped = motion.SCALED_OPENING
    for way, scale in ((w, s) for w in args.opening_way for s in args.mouth_scale):
        motion.SCALED_OPENING = way
        name = f"{scale:g}" if args.opening_way == [shipped] else f"{way}/{scale:g}"
        options = AnimateOptions(
            crop=False,
            paste_back=False,
            face_backend="dlib",
            device="cpu",
            mouth_interior="warp",
            mouth_scale=scale,
        )
        animator = Animator(model, options, analyzer)
        row = table.setdefault(name, {})
        for clip in args.clips:
            frames = read_all_frames(clip, max_frames=args.max_frames)
            psnr, l1 = scores(animate_clip(animator, frames)[1:], frames[1:])
            row[clip.name] = {"psnr": psnr, "l1": l1, "frames": len(frames)}
            print(f"mouth scale {name}  {clip.name}: PSNR {psnr:.3f}  L1 {l1:.3f}", flush=True)
        row["mean"] = {
            key: float(np.mean([row[clip.name][key] for clip in args.clips])) for key in ("psnr", "l1")
        }
        print(f"mouth scale {name}  mean: PSNR {row['mean']['psnr']:.3f}  L1 {row['mean']['l1']:.3f}")
    motion.SCALED_OPENING = shipped
    if args.json:
        args.json.write_text(
            json.dumps({"weights": str(args.weights), "max_frames": args.max_frames, "rows": table}, indent=1)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
