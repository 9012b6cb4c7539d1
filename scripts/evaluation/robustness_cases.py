"""Try bad inputs on every command and print the rows of docs/robustness.md (a Markdown table).

    .venv/bin/python scripts/evaluation/robustness_cases.py > /tmp/rows.md      # a few minutes on a CPU

Each case runs `tiw` in this process through its entry point (`tiwcli.cli.main`, so usage
errors are shown as users see them) in a fresh folder, and records the exit code, the
`error:`/`warning:` line and any file left behind. Cases that need a real process (SIGTERM)
or a full disk are tried by hand; docs/robustness.md lists them too.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tiwcli.checkpoint import load_tensors, save_model, save_tensors
from tiwcli.cli import main
from tiwcli.config import model_preset
from tiwcli.io.video import VideoReader, VideoWriter
from tiwcli.models import ImplicitWarping
from tiwcli.samples import sample_file

Setup = Callable[[Path], list[str]]


def make_inputs(base: Path) -> dict[str, Path]:
    """Shared good inputs: tiny weights, a 12-frame driving clip with audio, photos, a dataset."""
    torch.manual_seed(0)
    inputs = {"weights": base / "tiny.safetensors", "driving": base / "driving.mp4"}
    save_model(inputs["weights"], ImplicitWarping(model_preset("tiny")))
    wolfgang = sample_file("WolfgangLanger_Pexels.mp4")
    with VideoReader(wolfgang) as reader, VideoWriter(inputs["driving"], reader.info.fps, wolfgang) as writer:
        writer.write_batch(next(reader.batches(12)))
    inputs["face"] = sample_file("single_face.jpg")
    inputs["carphone"] = sample_file("carphone_pristine.mp4")
    inputs["woman"] = base / "woman.png"
    with VideoReader(wolfgang) as reader:
        Image.fromarray(next(reader.frames())).save(inputs["woman"])
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
    from make_sample_dataset import make_sample_dataset

    inputs["data"] = base / "data"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        make_sample_dataset(inputs["data"], size=64, max_input_frames=24, min_frames=8)
    return inputs


def poisoned(path: Path, folder: Path, how: str) -> Path:
    tensors, metadata = load_tensors(path)
    name = next(iter(tensors))
    if how == "nan":
        tensors[name] = torch.full_like(tensors[name], float("nan"))
    else:
        tensors = {key: value.to(torch.int64) for key, value in tensors.items()}
    target = folder / f"{how}.safetensors"
    save_tensors(target, tensors, metadata)
    return target


def unwritable(folder: Path) -> Path:
    for candidate in (folder, Path("/sys"), Path("/proc")):
        if candidate == folder:
            folder.mkdir(exist_ok=True)
            folder.chmod(0o555)
        try:
            with tempfile.NamedTemporaryFile(dir=candidate):
                pass
        except OSError:
            return candidate
    raise RuntimeError("no unwritable folder here")


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def frameless(path: Path) -> Path:
    import av

    container = av.open(str(path), mode="w")
    stream = container.add_stream("mpeg4", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
    container.start_encoding()
    container.close()
    return path


def wav(path: Path) -> Path:
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    return path


def one_frame_video(path: Path, source: Path) -> Path:
    with VideoReader(source) as reader, VideoWriter(path, reader.info.fps) as writer:
        writer.write(next(reader.frames()))
    return path


def cases(inputs: dict[str, Path]) -> list[tuple[str, str, Setup]]:
    """(command, bad input, setup(folder) -> tiw arguments)."""
    w, d, face = str(inputs["weights"]), str(inputs["driving"]), str(inputs["face"])
    data = str(inputs["data"])

    def animate(*extra: object, source: object = face, driving: object = d, out: str = "out.mp4") -> Setup:
        def setup(folder: Path) -> list[str]:
            resolved = [str(x(folder)) if callable(x) else str(x) for x in (source, driving)]
            output = str(folder / out) if not out.startswith("/") else out
            more = [str(x(folder)) if callable(x) else str(x) for x in extra]
            return ["animate", *resolved, "-o", output, "--weights", w, *more]

        return setup

    def command(*arguments: object) -> Setup:
        return lambda folder: [str(x(folder)) if callable(x) else str(x) for x in arguments]

    def in_folder(name: str) -> Callable[[Path], Path]:
        return lambda folder: folder / name

    truncated_jpeg = lambda f: write_bytes(f / "half.jpg", inputs["face"].read_bytes()[:4000])  # noqa: E731
    return [
        ("animate", "source photo does not exist", animate(source=in_folder("nope.jpg"))),
        ("animate", "driving video does not exist", animate(driving=in_folder("nope.mp4"))),
        ("animate", "source is a folder", animate(source=lambda f: f)),
        ("animate", "driving is a folder", animate(driving=lambda f: f)),
        (
            "animate",
            "source is a text file named .jpg",
            animate(source=lambda f: write_bytes(f / "t.jpg", b"hi")),
        ),
        ("animate", "source is an empty .jpg", animate(source=lambda f: write_bytes(f / "e.jpg", b""))),
        ("animate", "source JPEG cut in half", animate(source=truncated_jpeg)),
        ("animate", "source is a PNG named .jpg", animate(source=lambda f: _png_as_jpg(f, inputs["face"]))),
        ("animate", "source grayscale photo", animate(source=lambda f: _gray(f, inputs["face"]))),
        ("animate", "source 16-bit PNG", animate(source=lambda f: _sixteen_bit(f, inputs["face"]))),
        ("animate", "source RGBA PNG", animate(source=sample_file("Image_with_alpha.png"))),
        ("animate", "source 8000x7000 image", animate(source=lambda f: _huge(f))),
        ("animate", "source 16x16 image", animate(source=lambda f: _tiny_image(f))),
        (
            "animate",
            "source photo without a face",
            animate(source=sample_file("free-mountain-vector-01.jpg")),
        ),
        ("animate", "source photo with several faces", animate(source=sample_file("multi_face.jpg"))),
        ("animate", "source photo of a face in profile", animate(source=sample_file("BWPictureHuman.jpg"))),
        ("animate", "two source photos of different people", _two_people(animate, inputs)),
        ("animate", "driving is an audio-only WAV", animate(driving=lambda f: wav(f / "a.wav"))),
        ("animate", "driving is a photo", animate(driving=face)),
        ("animate", "driving video with zero frames", animate(driving=lambda f: frameless(f / "z.avi"))),
        ("animate", "driving MP4 cut after 2 kB", animate(driving=lambda f: _cut(f, inputs["driving"]))),
        ("animate", "driving is random bytes (.mp4)", animate(driving=lambda f: _noise(f))),
        ("animate", "driving is an empty .mp4", animate(driving=lambda f: write_bytes(f / "e.mp4", b""))),
        ("animate", "driving video without a face", animate(driving=lambda f: _no_face_video(f))),
        (
            "animate",
            "driving with faceless frames (face_noface.mov, HEVC)",
            animate("--no-paste-back", driving=sample_file("face_noface.mov")),
        ),
        (
            "animate",
            "driving video of one frame",
            animate(driving=lambda f: one_frame_video(f / "1.mp4", inputs["driving"])),
        ),
        ("animate", "photo and video mixed as sources", animate(d, source=face)),
        ("animate", "two source videos", animate(d, source=d)),
        (
            "animate",
            "source video, --sources-from-video above its length",
            animate(
                "--sources-from-video",
                500,
                "--no-crop",
                source=lambda f: one_frame_video(f / "s.mp4", inputs["driving"]),
            ),
        ),
        ("animate", "--sources-from-video 0", animate("--sources-from-video", 0)),
        ("animate", "--batch-size 0", animate("--batch-size", 0)),
        ("animate", "--crf 99", animate("--crf", 99)),
        ("animate", "--mode sideways", animate("--mode", "sideways")),
        ("animate", "--device cuda on a machine without a GPU", animate("--device", "cuda")),
        ("animate", "output exists, no --overwrite", animate(out="exists.mp4")),
        ("animate", "output exists, --overwrite", animate("--overwrite", out="exists.mp4")),
        ("animate", "output folder does not exist", animate(out="missing/out.mp4")),
        ("animate", "output is a folder", animate(out="adir.mp4")),
        ("animate", "output named .gif", animate(out="out.gif")),
        (
            "animate",
            "output in a read-only folder",
            lambda f: animate(out=str(unwritable(f / "ro") / "o.mp4"))(f),
        ),
        ("animate", "--preview file exists, no --overwrite", animate("--preview", out="haspreview.mp4")),
        (
            "animate",
            "--weights file does not exist",
            lambda f: [*animate()(f)[:-2], "--weights", str(f / "no.st")],
        ),
        (
            "animate",
            "--weights is random bytes",
            _weights(animate, lambda f: write_bytes(f / "r.st", b"\0" * 99)),
        ),
        (
            "animate",
            "--weights truncated",
            _weights(animate, lambda f: _truncated_weights(f, inputs["weights"])),
        ),
        (
            "animate",
            "--weights with NaN values",
            _weights(animate, lambda f: poisoned(inputs["weights"], f, "nan")),
        ),
        (
            "animate",
            "--weights cast to int64",
            _weights(animate, lambda f: poisoned(inputs["weights"], f, "int64")),
        ),
        ("animate", "--weights is a pickle (.pt)", _weights(animate, lambda f: _pickle(f))),
        (
            "animate",
            "--weights of a config its tensors do not match",
            _weights(animate, lambda f: _mismatched(f)),
        ),
        ("animate", "unicode and spaces in paths", _unicode(animate, inputs)),
        ("animate", "--no-crop on a non-square photo", animate("--no-crop")),
        (
            "preprocess",
            "input does not exist",
            command("preprocess", in_folder("nope.mp4"), in_folder("out")),
        ),
        (
            "preprocess",
            "OUT_DIR is a file",
            command("preprocess", d, lambda f: write_bytes(f / "file", b"x")),
        ),
        (
            "preprocess",
            "OUT_DIR in a read-only folder",
            lambda f: ["preprocess", d, str(unwritable(f / "ro") / "o")],
        ),
        (
            "preprocess",
            "folder without videos",
            command("preprocess", lambda f: _empty_dir(f), in_folder("out")),
        ),
        (
            "preprocess",
            "an unreadable video among good ones",
            command("preprocess", d, lambda f: _noise(f), in_folder("out"), "--min-frames", 8),
        ),
        (
            "preprocess",
            "a video without a face",
            command("preprocess", lambda f: _no_face_video(f), in_folder("out")),
        ),
        ("preprocess", "--size 0", command("preprocess", d, in_folder("out"), "--size", 0)),
        (
            "train",
            "--data does not exist",
            command("train", "--data", in_folder("none"), "--out", in_folder("run")),
        ),
        (
            "train",
            "--data has no train/ clips",
            command("train", "--data", lambda f: _empty_dir(f), "--out", in_folder("r")),
        ),
        (
            "train",
            "--out is an existing file",
            command("train", "--data", data, "--out", lambda f: write_bytes(f / "notes.txt", b"x")),
        ),
        (
            "train",
            "--out in a read-only folder",
            lambda f: ["train", "--data", data, "--out", str(unwritable(f / "ro") / "r")],
        ),
        (
            "train",
            "--resume with no run in --out",
            command("train", "--data", data, "--out", in_folder("r"), "--resume"),
        ),
        (
            "train",
            "--init does not exist",
            command("train", "--data", data, "--out", in_folder("r"), "--init", in_folder("no.safetensors")),
        ),
        (
            "train",
            "--init with NaN weights",
            command(
                "train",
                "--data",
                data,
                "--out",
                in_folder("r"),
                "--init",
                lambda f: poisoned(inputs["weights"], f, "nan"),
            ),
        ),
        (
            "train",
            "--device gpu",
            command("train", "--data", data, "--out", in_folder("r"), "--device", "gpu"),
        ),
        (
            "train",
            "--preset bogus",
            command("train", "--data", data, "--out", in_folder("r"), "--preset", "bogus"),
        ),
        (
            "train",
            "--sources 100 (clips too short)",
            command("train", "--data", data, "--out", in_folder("r"), "--preset", "tiny", "--sources", 100),
        ),
        (
            "train",
            "--steps many",
            command("train", "--data", data, "--out", in_folder("r"), "--steps", "many"),
        ),
        ("eval", "--pred without --real", command("eval", "--pred", lambda f: f)),
        ("eval", "neither --data nor --pred", command("eval")),
        ("eval", "unknown metric", command("eval", "--data", data, "--metrics", "l1,bogus")),
        ("eval", "--data does not exist", command("eval", "--data", in_folder("none"), "--no-model")),
        ("eval", "--json named .txt", command("eval", "--data", data, "--json", in_folder("r.txt"))),
        (
            "eval",
            "--json in a read-only folder",
            lambda f: ["eval", "--data", data, "--no-model", "--json", str(unwritable(f / "ro") / "r.json")],
        ),
        (
            "eval",
            "--weights does not exist",
            command("eval", "--data", data, "--weights", in_folder("no.safetensors")),
        ),
        (
            "eval",
            "--weights with NaN values",
            command("eval", "--data", data, "--weights", lambda f: poisoned(inputs["weights"], f, "nan")),
        ),
        (
            "eval",
            "--cross-identity on a split of one person",
            command("eval", "--data", data, "--no-model", "--cross-identity", "--metrics", "aed"),
        ),
        (
            "eval",
            "--cross-identity on the sample train split (1 woman, 1 man in 3 videos)",
            command(
                "eval",
                "--data",
                data,
                "--split",
                "train",
                "--no-model",
                "--cross-identity",
                "--metrics",
                "aed",
                "--baselines",
                "copy-source",
                "--max-frames",
                2,
            ),
        ),
        ("eval", "--pred/--real of another framing (64x64 vs 176x144)", lambda f: _framing(f, inputs)),
        ("eval", "--pred/--real with no common names", lambda f: _no_common(f, inputs)),
        ("eval", "FID/KID on 4 frames", lambda f: _few_fid(f, inputs)),
        (
            "eval",
            "--no-model --baselines none",
            command("eval", "--data", data, "--no-model", "--baselines", "none"),
        ),
        ("eval", "--sources 0,a", command("eval", "--data", data, "--sources", "0,a")),
        (
            "eval",
            "--split that does not exist",
            command("eval", "--data", data, "--split", "val", "--no-model"),
        ),
        ("tiw", "unknown command", command("bogus")),
        ("tiw", "unknown option", command("animate", "--frobnicate")),
    ]


def _png_as_jpg(folder: Path, face: Path) -> Path:
    Image.open(face).save(folder / "png.jpg", format="PNG")
    return folder / "png.jpg"


def _gray(folder: Path, face: Path) -> Path:
    Image.open(face).convert("L").save(folder / "gray.jpg")
    return folder / "gray.jpg"


def _sixteen_bit(folder: Path, face: Path) -> Path:
    gray = np.asarray(Image.open(face).convert("L"), dtype=np.uint16) * 257
    Image.fromarray(gray).save(folder / "16.png")
    return folder / "16.png"


def _huge(folder: Path) -> Path:
    Image.new("L", (8000, 7000), 128).save(folder / "huge.png")
    return folder / "huge.png"


def _tiny_image(folder: Path) -> Path:
    Image.new("RGB", (16, 16), (200, 150, 120)).save(folder / "tiny.png")
    return folder / "tiny.png"


def _cut(folder: Path, clip: Path) -> Path:
    return write_bytes(folder / "cut.mp4", clip.read_bytes()[:2048])


def _noise(folder: Path) -> Path:
    return write_bytes(folder / "noise.mp4", np.random.default_rng(0).bytes(4096))


def _no_face_video(folder: Path) -> Path:
    path = folder / "no_face.mp4"
    with VideoReader(sample_file("no_face.mp4")) as reader, VideoWriter(path, reader.info.fps) as writer:
        writer.write_batch(next(reader.batches(4)))
    return path


def _empty_dir(folder: Path) -> Path:
    (folder / "empty").mkdir(exist_ok=True)
    return folder / "empty"


def _weights(animate, make: Callable[[Path], Path]) -> Setup:
    return lambda folder: [*animate()(folder)[:-2], "--weights", str(make(folder))]


def _truncated_weights(folder: Path, weights: Path) -> Path:
    return write_bytes(folder / "cut.safetensors", weights.read_bytes()[:5000])


def _pickle(folder: Path) -> Path:
    torch.save({"a": torch.zeros(2)}, folder / "model.pt")
    return folder / "model.pt"


def _mismatched(folder: Path) -> Path:
    tensors, metadata = load_tensors(folder.parent / "tiny.safetensors")
    tensors.pop(next(iter(tensors)))
    save_tensors(folder / "m.safetensors", tensors, metadata)
    return folder / "m.safetensors"


def _two_people(animate, inputs) -> Setup:
    return lambda folder: animate(inputs["driving"], source=inputs["face"], driving=inputs["woman"])(folder)


def _unicode(animate, inputs) -> Setup:
    def setup(folder: Path) -> list[str]:
        sub = folder / "Ünïcödé фото 写真"
        sub.mkdir()
        shutil.copy(inputs["face"], sub / "ansicht élan.jpg")
        shutil.copy(inputs["driving"], sub / "fahrt ß.mp4")
        return [
            "animate",
            str(sub / "ansicht élan.jpg"),
            str(sub / "fahrt ß.mp4"),
            "-o",
            str(sub / "aus gabe.mp4"),
            "--weights",
            str(inputs["weights"]),
        ]

    return setup


def _pred_real(folder: Path, real: np.ndarray, pred: np.ndarray, name: str = "clip") -> list[str]:
    for side, frames in (("real", real), ("pred", pred)):
        (folder / side).mkdir()
        with VideoWriter(folder / side / f"{name if side == 'pred' else 'clip'}.mp4", 25) as writer:
            writer.write_batch(frames)
    return ["eval", "--pred", str(folder / "pred"), "--real", str(folder / "real")]


def _framing(folder: Path, inputs) -> list[str]:
    from tiwcli.io.frames import resize_frames
    from tiwcli.io.video import read_all_frames

    real = read_all_frames(inputs["carphone"], max_frames=4)
    return [*_pred_real(folder, real, resize_frames(real, 64, 64)), "--metrics", "l1"]


def _no_common(folder: Path, inputs) -> list[str]:
    from tiwcli.io.video import read_all_frames

    real = read_all_frames(inputs["carphone"], max_frames=2)
    return [*_pred_real(folder, real, real, name="other"), "--metrics", "l1"]


def _few_fid(folder: Path, inputs) -> list[str]:
    from tiwcli.io.video import read_all_frames

    real = read_all_frames(inputs["carphone"], max_frames=4)
    return [*_pred_real(folder, real, real), "--metrics", "fid,kid"]


def run_case(folder: Path, arguments: list[str]) -> tuple[int, str, list[str]]:
    """(exit code, the error/warning/summary line, files left in `folder` that were not there)."""
    before = {path for path in folder.rglob("*")}
    stdout, stderr = io.StringIO(), io.StringIO()
    old_argv = sys.argv
    sys.argv = ["tiw", *arguments]
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            main()
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code if isinstance(exit_info.code, int) else 1
    except BaseException as error:  # a crash: recorded, never expected
        code, stderr = -1, io.StringIO(f"CRASH {error.__class__.__name__}: {error}")
    finally:
        sys.argv = old_argv
    lines = [line.strip() for line in stderr.getvalue().splitlines() if line.strip()]
    if "Traceback" in stderr.getvalue():
        lines = ["TRACEBACK " + lines[-1]]
    message = next(
        (line for line in lines if line.startswith(("error:", "warning:", "CRASH", "TRACEBACK"))), ""
    )
    if not message:
        output = [line for line in stdout.getvalue().splitlines() if line.strip()]
        message = output[-1] if output else (lines[-1] if lines else "")
    left = sorted(str(path.relative_to(folder)) for path in set(folder.rglob("*")) - before)
    return code, message, left


def shorten(text: str, folder: Path, base: Path) -> str:
    text = text.replace(str(folder), "…").replace(str(base), "…")
    text = re.sub(r"/\S*/site-packages/\S*/", "…/", text)
    text = text.replace("|", "\\|")
    return text if len(text) < 230 else text[:227] + "..."


def main_rows() -> None:
    base = Path(tempfile.mkdtemp(prefix="tiw-robustness-"))
    inputs = make_inputs(base)
    print(
        "| # | command | bad input | exit | what tiw says (stderr, or the last stdout line) | left behind |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for number, (command, description, setup) in enumerate(cases(inputs), start=1):
        folder = base / f"case{number:03d}"
        folder.mkdir()
        (folder / "exists.mp4").write_bytes(b"keep")
        (folder / "haspreview.preview.mp4").write_bytes(b"keep")
        (folder / "adir.mp4").mkdir()
        arguments = setup(folder)
        code, message, left = run_case(folder, arguments)
        left_text = ", ".join(left) if left else "nothing"
        print(
            f"| {number} | {command} | {description} | {code} | {shorten(message, folder, base)} | "
            f"{shorten(left_text, folder, base)} |",
            flush=True,
        )
        if (folder / "ro").exists():
            (folder / "ro").chmod(0o755)
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    os.environ.pop("TIW_WEIGHTS", None)
    main_rows()
