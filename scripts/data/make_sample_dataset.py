"""Build a small real face dataset from the offline sample clips (tiwcli/samples.py lists them).

    .venv/bin/python scripts/data/make_sample_dataset.py OUT_DIR [--size 256] [--max-input-frames N]

Runs the same code as `tiw preprocess` over carphone_pristine.mp4 (a man in a car:
the TEST identity), WolfgangLanger_Pexels.mp4, face_noface.mov, noface_face.mov and
single_face.mp4 (training). Three people only (the last three videos are one man): enough
to check the pipeline and to overfit a small model, not to generalise. Rerunning into the
same folder is a no-op (preprocess resumes). Tests use `--size 64 --max-input-frames 24 --min-frames 8`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tiwcli.dataset.preprocess import PreprocessOptions, PreprocessSummary, preprocess
from tiwcli.errors import TiwError
from tiwcli.faces.backends import load_face_analyzer
from tiwcli.samples import sample_file

TEST_CLIP = "carphone_pristine.mp4"
SAMPLE_CLIPS = (
    TEST_CLIP,
    "WolfgangLanger_Pexels.mp4",
    "face_noface.mov",
    "noface_face.mov",
    "single_face.mp4",
)


def make_sample_dataset(
    out_dir: Path,
    size: int = 256,
    max_input_frames: int | None = None,
    min_frames: int = 32,
    max_frames: int | None = 120,
    backend: str = "dlib",
) -> PreprocessSummary:
    options = PreprocessOptions(
        size=size,
        min_frames=min_frames,
        max_frames=max_frames,
        max_input_frames=max_input_frames,
        test_fraction=0.0,  # the split is chosen: carphone is the test identity
        test_videos=(TEST_CLIP,),
        backend=backend,
    )
    inputs = [sample_file(name) for name in SAMPLE_CLIPS]
    return preprocess(inputs, out_dir, options, load_face_analyzer(backend))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size", type=int, default=256, help="clip side in pixels (tests: 64)")
    parser.add_argument(
        "--max-input-frames", type=int, default=None, help="read only this many frames per video"
    )
    parser.add_argument("--min-frames", type=int, default=32, help="shortest clip kept")
    parser.add_argument(
        "--max-frames", type=int, default=120, help="longest clip; longer face runs are split"
    )
    parser.add_argument(
        "--face-backend",
        "--backend",
        dest="backend",
        default="dlib",
        help="face backend (dlib: the same result everywhere)",
    )
    args = parser.parse_args(argv)
    try:
        summary = make_sample_dataset(
            args.out_dir, args.size, args.max_input_frames, args.min_frames, args.max_frames, args.backend
        )
    except TiwError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    for entry in summary.skipped:
        print(f"skipped: {entry['reason']}")
    print(f"{summary.clips_written} clips from {summary.sources_done} videos in {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
