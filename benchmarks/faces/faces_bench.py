"""Face tracking cost and crop jitter on the real sample clips.

    .venv/bin/python benchmarks/faces/faces_bench.py [--max-frames N]

For each clip: ms/frame of `track_faces` (the detector on every frame) and of `follow_faces`
(the detector every 8 frames, landmark tracking in between; `tiw animate`'s default), with
how often the detector ran and how far the two tracks' crops are apart (mean and max of the
centre distance / crop side); decode excluded. Then ms for crop_face and paste_back at 256 px,
frames without a face, and the crop jitter (mean frame-to-frame move of the crop
centre / crop size), roughness (mean |second difference| of the centre / size: the shake
without the real motion) and relative size change of the raw per-frame boxes vs the smoothed track.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tiwcli.faces.backends import load_face_analyzer
from tiwcli.faces.crop import crop_face, paste_back
from tiwcli.faces.follow import FaceFollower, follow_faces
from tiwcli.faces.track import crop_jitter, crop_roughness, crop_size_jitter, track_faces
from tiwcli.io.video import read_all_frames
from tiwcli.samples import sample_file

CLIPS = ["WolfgangLanger_Pexels.mp4", "carphone_pristine.mp4"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-frames", type=int, default=None)
    args = parser.parse_args()
    analyzer = load_face_analyzer("dlib")
    for name in CLIPS:
        frames = read_all_frames(sample_file(name), max_frames=args.max_frames)  # decode outside timing
        start = time.perf_counter()
        track = track_faces(iter(frames), analyzer, name=name)
        per_frame = (time.perf_counter() - start) / len(frames) * 1000
        follower = FaceFollower(analyzer, detect_every=8)
        start = time.perf_counter()
        fast = follow_faces(iter(frames), analyzer, follower=follower)
        fast_per_frame = (time.perf_counter() - start) / len(frames) * 1000
        full_boxes, fast_boxes = track.smoothed_array(), fast.smoothed_array()
        apart = np.hypot(*(full_boxes[:, :2] - fast_boxes[:, :2]).T) / full_boxes[:, 2]
        start = time.perf_counter()
        crops = [crop_face(frame, box, 256) for frame, box in zip(frames, track.boxes, strict=True)]
        crop_ms = (time.perf_counter() - start) / len(frames) * 1000
        start = time.perf_counter()
        for frame, crop, box in zip(frames, crops, track.boxes, strict=True):
            paste_back(frame, crop, box)
        paste_ms = (time.perf_counter() - start) / len(frames) * 1000
        height, width = frames.shape[1:3]
        print(
            f"{name} ({width}x{height}, {len(frames)} frames): track_faces {per_frame:.1f} ms/frame, "
            f"follow_faces {fast_per_frame:.1f} ms/frame (detector on {follower.stats.detections} frames, "
            f"{follower.stats.failures} tracking failures, {fast.num_missing} missing; crops apart by "
            f"{apart.mean():.4f} mean, {apart.max():.4f} max), "
            f"crop_face {crop_ms:.1f} ms, paste_back {paste_ms:.1f} ms, missing {track.num_missing}; "
            f"centre jitter raw {crop_jitter(track.raw_boxes):.4f} -> smoothed {crop_jitter(track):.4f}; "
            f"roughness raw {crop_roughness(track.raw_boxes):.4f} -> smoothed {crop_roughness(track):.4f}; "
            f"size jitter raw {crop_size_jitter(track.raw_boxes):.4f} "
            f"-> smoothed {crop_size_jitter(track):.4f}"
        )


if __name__ == "__main__":
    main()
