"""One end-to-end run of `tiw bench`, in a process of its own: `python -m tiwcli.evaluation.bench_child
REQUEST_JSON`. It animates through `tiw animate`'s render API (`tiwcli.inference.jobs`) and writes a
JSON summary to the request's `summary` path: frames, frames/s, the time split in ms/frame per
stage, torch's thread count and this process's peak resident memory (or `error`, one line).

The peak is VmHWM, the high-water mark of this process's address space; ru_maxrss would not do:
at exec, Linux carries the parent's (the bench's own, large) high-water mark into the child's.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

from tiwcli.allocator import keep_freed_memory
from tiwcli.errors import TiwError


def peak_rss_kib() -> int:
    """This process's peak resident memory, in KiB."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run(request: dict) -> dict[str, object]:
    """Animate as `tiw animate SOURCES DRIVING -o OUTPUT --weights W --device D --batch-size B
    [--no-crop] [--engine onnx]` does, and summarise the run."""
    import torch

    from tiwcli.inference.jobs import AnimationJob, load_model_and_faces, prepare_job, run_job
    from tiwcli.inference.options import AnimateOptions
    from tiwcli.runtime import resolve_device

    if request.get("threads"):
        torch.set_num_threads(int(request["threads"]))
    sources = [Path(path) for path in request["sources"]]
    job = AnimationJob(sources, Path(request["driving"]), Path(request["output"]), Path(request["weights"]))
    prepared = prepare_job(job)
    options = AnimateOptions(
        device=request["device"],
        batch_size=request["batch_size"],
        crop=request["crop"],
        engine=request.get("engine", "torch"),
    )
    resolve_device(options.device)
    model, analyzer = load_model_and_faces(prepared.weights, options, request.get("threads"))
    summary = run_job(prepared, model, options, analyzer)
    frames = max(summary.frames, 1)
    return {
        "frames": summary.frames,
        "frames_per_second": summary.frames_per_second,
        "split_ms": {stage: 1000 * seconds / frames for stage, seconds in summary.stage_seconds.items()},
        "threads": torch.get_num_threads(),
        "peak_rss_kib": peak_rss_kib(),
    }


def main(argv: list[str]) -> int:
    keep_freed_memory()  # as the `tiw` entry point does
    request = json.loads(argv[0])
    try:
        summary = run(request)
        code = 0
    except TiwError as error:
        summary, code = {"error": str(error)}, 1
    Path(request["summary"]).write_text(json.dumps(summary))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
