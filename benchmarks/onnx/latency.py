"""Issue 25's first lever: the model alone, torch against ONNX Runtime, per driving frame (keypoints +
render), on real crops and landmarks, alternated in one run so that both see the same machine.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/onnx/latency.py --threads 1 --batch 1 \
        --json benchmarks/onnx/latency_1thread.json

Prints the median and p90 milliseconds per frame of each engine and graph optimisation level, and
the largest difference from torch's image. `--int8` adds ONNX Runtime on the export with its weights
quantised to int8 (`onnxruntime.quantization.quantize_dynamic`: ConvInteger and MatMulInteger with
activations quantised on the fly), graph optimisation "all".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tiwcli.checkpoint import load_model  # noqa: E402
from tiwcli.inference.animator import Animator  # noqa: E402
from tiwcli.inference.onnx_engine import OnnxEngine, SessionConfig  # noqa: E402
from tiwcli.inference.onnx_export import export_onnx  # noqa: E402
from tiwcli.inference.options import AnimateOptions  # noqa: E402
from tiwcli.io.frames import frames_to_tensor  # noqa: E402
from tiwcli.io.images import load_image  # noqa: E402
from tiwcli.io.video import read_all_frames  # noqa: E402
from tiwcli.samples import sample_file  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=ROOT / "weights/tiw-landmark-256.safetensors")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--int8", action="store_true", help="also the int8-quantised export")
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    model = load_model(options.weights).eval()
    animator = Animator(model, AnimateOptions(device="cpu", face_backend="dlib"))
    photo = animator.sources_from_images([load_image(ROOT / "samples/source.jpg")])
    frames = read_all_frames(sample_file("WolfgangLanger_Pexels.mp4"), max_frames=40)
    driving = animator.sources_from_images(list(frames[: options.batch]))
    source_images = frames_to_tensor(photo.crops)[None]
    source_landmarks = torch.from_numpy(photo.landmarks)[None]
    driving_images = frames_to_tensor(driving.crops)
    driving_landmarks = torch.from_numpy(driving.landmarks)

    engines: dict = {"torch": model}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tiw.onnx"
        export_onnx(model, path)
        for level in ("basic", "extended", "all"):
            engines[f"onnx ({level})"] = OnnxEngine(
                path, SessionConfig(threads=options.threads, optimization=level)
            )
        if options.int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantised = Path(folder) / "tiw-int8.onnx"
            quantize_dynamic(str(path), str(quantised), weight_type=QuantType.QInt8)
            engines["onnx int8 (all)"] = OnnxEngine(quantised, SessionConfig(threads=options.threads))
        encodings = {}
        with torch.no_grad():
            for name, engine in engines.items():
                encodings[name] = engine.encode_sources(source_images, source_landmarks)
            reference = model.animate(
                encodings["torch"], model.keypoint_detector(driving_images), driving_landmarks
            )
            times: dict[str, list[float]] = {name: [] for name in engines}
            errors = {}
            for repeat in range(options.repeats + 3):
                for name, engine in engines.items():
                    start = time.perf_counter()
                    images = engine.animate(
                        encodings[name], engine.keypoint_detector(driving_images), driving_landmarks
                    )
                    if repeat >= 3:  # warm-up
                        times[name].append((time.perf_counter() - start) * 1000 / options.batch)
                    errors[name] = float((images - reference).abs().max())
    report = {
        "threads": options.threads,
        "batch": options.batch,
        "load": os.getloadavg(),
        "rows": {
            name: {
                "median_ms": statistics.median(values),
                "p90_ms": sorted(values)[int(0.9 * len(values))],
                "max_error": errors[name],
            }
            for name, values in times.items()
        },
    }
    for name, row in report["rows"].items():
        print(f"{name:16s} median {row['median_ms']:7.1f} ms  p90 {row['p90_ms']:7.1f} ms  "
              f"max |diff| {row['max_error']:.1e}")  # fmt: skip
    print(f"threads {options.threads}, batch {options.batch}, load {report['load'][0]:.2f}")
    if options.json:
        options.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
