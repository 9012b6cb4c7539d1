"""Issue 26's two costs: does peak memory stay flat as the clip grows, in every mode of `tiw animate`;
and is the default single-face path as fast as before the modes came in.

Each run is one `tiw animate` process; its peak resident memory comes from the kernel
(`os.wait4`'s `ru_maxrss`), its frame rate from the wall time over the frames written (start-up,
model load and face tracking included: what a user waits for). Driving clips and the edited source
are real clips played forward then back until they reach the length asked for.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/modes/measure.py --lengths 48 192 \
        --json benchmarks/modes/memory.json
    # speed of the default path, this tree against an older commit, alternated, on a quiet machine:
    git worktree add /tmp/tiw-before e6e7841
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/modes/measure.py --speed-only --repeats 3 \
        --before /tmp/tiw-before --json benchmarks/modes/speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tiwcli.io.video import VideoReader, VideoWriter, probe_video  # noqa: E402
from tiwcli.samples import sample_file  # noqa: E402


def ping_pong(source: Path, path: Path, frames: int) -> Path:
    """`frames` frames of a real clip, played forward then back as often as needed (no audio)."""
    with VideoReader(source) as reader:
        clip = list(reader.frames())
        fps = reader.info.fps
    order = clip + clip[-2:0:-1]
    with VideoWriter(path, fps) as writer:
        for index in range(frames):
            writer.write(order[index % len(order)])
    return path


def run(args: list[str], cwd: Path, pythonpath: Path | None = None) -> dict:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    command = [sys.executable, "-m", "tiwcli", *args]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    output = process.stdout.read().decode() if process.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{output}")
    return {"seconds": seconds, "peak_mib": usage.ru_maxrss / 1024}


def modes(inputs: dict[str, Path], out: Path) -> dict[str, list[str]]:
    return {
        "default (one face)": [str(ROOT / "samples/source.jpg"), str(inputs["driving"])],
        "--faces all (6 faces)": [str(sample_file("t1.jpg")), str(inputs["driving"]), "--faces", "all"],
        "--driving-per-face (2 faces)": [
            *(str(sample_file("t1.jpg")), str(inputs["driving"]), str(inputs["other"])),
            *("--faces", "1,2", "--driving-per-face"),
        ],
        "--edit": [str(inputs["talking"]), str(inputs["driving"]), "--edit"],
        "--motion expression": [
            *(str(ROOT / "samples/source.jpg"), str(inputs["driving"])),
            *("--motion", "expression"),
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[48, 192])
    parser.add_argument("--speed-only", action="store_true", help="only the default path's speed")
    parser.add_argument("--before", type=Path, help="an older checkout to time the default path against")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="only the modes whose name contains this")
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    report: dict = {"threads": threads, "load_before": os.getloadavg(), "rows": []}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        if not options.speed_only:
            for length in options.lengths:
                wolfgang = sample_file("WolfgangLanger_Pexels.mp4")
                inputs = {
                    "driving": ping_pong(wolfgang, folder / f"drive{length}.mp4", length),
                    "other": ping_pong(ROOT / "samples/driving.mp4", folder / f"other{length}.mp4", length),
                    "talking": ping_pong(
                        sample_file("single_face.mp4"), folder / f"talking{length}.mp4", length
                    ),
                }
                for name, args in modes(inputs, folder).items():
                    if options.only not in name:
                        continue
                    out = folder / "out.mp4"
                    row = run(["animate", *args, "-o", str(out), "--overwrite"], ROOT)
                    frames = probe_video(out).num_frames
                    row.update(mode=name, frames=frames, fps=frames / row["seconds"])
                    report["rows"].append(row)
                    print(f"{name:30s} {frames:5d} frames  peak {row['peak_mib']:7.0f} MiB  "
                          f"{row['fps']:5.2f} fps", flush=True)  # fmt: skip
        else:
            demo = [str(ROOT / "samples/source.jpg"), str(ROOT / "samples/driving.mp4")]
            trees = {"this tree": ROOT} | ({"before": options.before.resolve()} if options.before else {})
            for repeat in range(options.repeats):
                for name, tree in trees.items():  # alternated, so that both see the same machine
                    out = folder / "out.mp4"
                    row = run(["animate", *demo, "-o", str(out), "--overwrite"], tree, pythonpath=tree)
                    frames = probe_video(out).num_frames
                    row.update(tree=name, repeat=repeat, frames=frames, fps=frames / row["seconds"])
                    report["rows"].append(row)
                    print(f"{name:10s} run {repeat}  {frames} frames  {row['seconds']:6.2f} s  "
                          f"{row['fps']:5.2f} fps  peak {row['peak_mib']:.0f} MiB", flush=True)  # fmt: skip
    report["load_after"] = os.getloadavg()
    print(f"threads {threads}, load {report['load_before'][0]:.2f} -> {report['load_after'][0]:.2f}")
    if options.json:
        options.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
