"""Case `number` of `seed`: a `tiw` command line over broken copies of the corpus, drawn from its own
RNG (`random.Random(f"{seed}-{number}")`), so any case can be made again alone.

`make_case` writes the case's inputs into CASE/in and returns what to run; outputs go to CASE/out.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.fuzz.corpus import Corpus
from tests.fuzz.mutate import ABSURD_NUMBERS, mutate_bytes, mutate_json, mutate_safetensors_header

IMAGE_SUFFIXES = [".jpg", ".png", ".jfif", ".gif", ".webp", "", ".mp4", ".txt", ".safetensors"]
VIDEO_SUFFIXES = [".mp4", ".mov", ".mkv", ".avi", ".jpg", "", ".gif"]
ANIMATE_OPTIONS = [
    "--batch-size", "--sources-from-video", "--crf", "--detect-every", "--threads", "--mode", "--device",
    "--precision", "--mouth-reference", "--mouth-interior", "--face-backend", "--mouth-scale",
]  # fmt: skip
TRAIN_OPTIONS = [
    "--steps", "--batch-size", "--lr", "--sources", "--checkpoint-every", "--keep", "--sample-every",
    "--log-every", "--seed", "--pyramid-weight", "--equivariance-weight", "--still-probability",
    "--mouth-pair-probability", "--warp-only-steps", "--landmark-weight", "--num-workers",
]  # fmt: skip
PREPROCESS_OPTIONS = [
    "--size",
    "--min-frames",
    "--max-frames",
    "--max-input-frames",
    "--test-fraction",
    "--max-jump",
]
LIVE_OPTIONS = [
    "--max-seconds",
    "--max-frames",
    "--camera-size",
    "--camera-fps",
    "--anchor-after",
    "--workers",
]


@dataclass
class Case:
    seed: int
    number: int
    kind: str
    arguments: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)  # what was broken, for the failure report
    outputs: set[str] = field(default_factory=set)  # names allowed in out/ after a success
    writes_inputs: bool = False  # --resume writes into its run folder (an input and the output)

    def describe(self) -> str:
        return f"seed {self.seed} case {self.number} ({self.kind}): {'; '.join(self.changes) or 'no change'}"


def broken_copy(source: Path, target_dir: Path, rng: random.Random, case: Case, suffixes: list[str]) -> Path:
    """A copy of `source` in `target_dir`, mutated (most of the time) and maybe given another suffix."""
    data = source.read_bytes()
    if rng.random() < 0.85:
        data, what = mutate_bytes(data, rng)
        case.changes.append(f"{source.name}: {what}")
    suffix = source.suffix if rng.random() < 0.6 else rng.choice(suffixes)
    if suffix != source.suffix:
        case.changes.append(f"{source.name} named {suffix or 'without a suffix'}")
    target = target_dir / f"{source.stem}{suffix}"
    target.write_bytes(data)
    return target


def absurd_options(options: list[str], rng: random.Random, case: Case, count: int) -> list[str]:
    chosen = []
    for option in rng.sample(options, count):
        value = rng.choice(ABSURD_NUMBERS)
        chosen += [option, value]
        case.changes.append(f"{option} {value!r}")
    return chosen


def animate_case(corpus: Corpus, inputs: Path, out: Path, rng: random.Random, case: Case) -> None:
    source, driving, weights = corpus.photo, corpus.clip, corpus.weights
    part = rng.choice(["source", "driving", "weights", "shipped-weights", "options", "source-video"])
    extra: list[str] = []
    if part == "source":
        source = broken_copy(corpus.photo, inputs, rng, case, IMAGE_SUFFIXES)
    elif part == "driving":
        driving = broken_copy(corpus.clip, inputs, rng, case, VIDEO_SUFFIXES)
    elif part == "source-video":
        source = broken_copy(corpus.clip, inputs, rng, case, VIDEO_SUFFIXES)
        extra = [*absurd_options(["--sources-from-video"], rng, case, 1), "--no-crop"]
    elif part in ("weights", "shipped-weights"):
        base = corpus.weights if part == "weights" else corpus.shipped_weights
        weights = inputs / base.name
        data = base.read_bytes()
        mutator = rng.choice([mutate_bytes, mutate_safetensors_header])
        data, what = mutator(data, rng)
        case.changes.append(f"{base.name}: {what}")
        weights.write_bytes(data)
    else:
        extra = absurd_options(ANIMATE_OPTIONS, rng, case, rng.choice([1, 2]))
    if rng.random() < 0.2:
        extra.append("--preview")
        case.outputs.add("out.preview.mp4")
    case.outputs.add("out.mp4")
    case.arguments = [
        "animate",
        str(source),
        str(driving),
        "-o",
        str(out / "out.mp4"),
        "--weights",
        str(weights),
    ]
    case.arguments += ["--face-backend", "dlib", *extra]


def preprocess_case(corpus: Corpus, inputs: Path, out: Path, rng: random.Random, case: Case) -> None:
    clip = broken_copy(corpus.clip, inputs, rng, case, VIDEO_SUFFIXES)
    extra = absurd_options(PREPROCESS_OPTIONS, rng, case, 1) if rng.random() < 0.5 else []
    case.arguments = ["preprocess", str(clip), str(out / "data"), "--size", "32", "--min-frames", "2"]
    case.arguments += ["--max-input-frames", "4", "--face-backend", "dlib", "--no-progress", *extra]
    case.outputs.add("data")


def train_case(corpus: Corpus, inputs: Path, out: Path, rng: random.Random, case: Case) -> None:
    data = inputs / "data"
    shutil.copytree(corpus.data, data)
    part = rng.choice(["clip", "landmarks", "options", "vgg"])
    extra: list[str] = []
    if part == "clip":
        clip = rng.choice(sorted(data.rglob("*.mp4")))
        broken, what = mutate_bytes(clip.read_bytes(), rng)
        clip.write_bytes(broken)
        case.changes.append(f"{clip.parent.name}/{clip.name}: {what}")
    elif part == "landmarks":
        clip = rng.choice(sorted((data / "train").glob("*.mp4")))
        landmarks = clip.with_suffix(".landmarks.npy")
        landmarks.write_bytes(rng.randbytes(rng.choice([0, 10, 300])))
        case.changes.append(f"{landmarks.name}: random bytes")
    elif part == "vgg":
        vgg = inputs / "vgg19.pth"
        vgg.write_bytes(mutate_bytes(b"\x80\x04\x95" + rng.randbytes(200), rng)[0])
        extra = ["--vgg-weights", str(vgg), "--perceptual-network", "vgg19"]
        case.changes.append("--vgg-weights: random bytes")
    else:
        extra = absurd_options(TRAIN_OPTIONS, rng, case, rng.choice([1, 2]))
    case.arguments = ["train", "--data", str(data), "--out", str(out / "run"), "--preset", "tiny"]
    case.arguments += ["--steps", "1", "--batch-size", "1", "--no-progress", *extra]
    case.outputs.add("run")


def resume_case(corpus: Corpus, inputs: Path, out: Path, rng: random.Random, case: Case) -> None:
    run = out / "run"
    shutil.copytree(corpus.run, run)
    target = rng.choice(sorted(path for path in run.rglob("*") if path.is_file() and path.suffix != ".png"))
    data = target.read_bytes()
    if target.suffix == ".json":
        data, what = mutate_json(data, rng)
    elif target.suffix == ".safetensors" and rng.random() < 0.5:
        data, what = mutate_safetensors_header(data, rng)
    else:
        data, what = mutate_bytes(data, rng)
    target.write_bytes(data)
    case.changes.append(f"{target.relative_to(out)}: {what}")
    case.arguments = ["train", "--data", str(corpus.data), "--out", str(run), "--resume", "--steps", "3"]
    case.arguments += ["--no-progress"]
    case.outputs.add("run")
    case.writes_inputs = True


def live_case(corpus: Corpus, inputs: Path, out: Path, rng: random.Random, case: Case) -> None:
    camera = corpus.clip
    if rng.random() < 0.5:
        camera = broken_copy(corpus.clip, inputs, rng, case, VIDEO_SUFFIXES)
        extra = ["--max-frames", "3"]
    else:
        extra = absurd_options(LIVE_OPTIONS, rng, case, 1)
        if "--max-frames" not in extra:
            extra += ["--max-frames", "3"]
    case.arguments = ["live", str(corpus.photo), "--camera", str(camera), "-o", str(out / "out.mp4")]
    case.arguments += ["--weights", str(corpus.weights), "--face-backend", "dlib", "--no-overlay", *extra]
    case.outputs.add("out.mp4")


def eval_case(corpus: Corpus, inputs: Path, out: Path, rng: random.Random, case: Case) -> None:
    pred, real = inputs / "pred", inputs / "real"
    pred.mkdir()
    real.mkdir()
    shutil.copyfile(corpus.clip, real / "clip.mp4")
    broken = broken_copy(corpus.clip, pred, rng, case, [".mp4"])
    broken.rename(pred / "clip.mp4")
    case.arguments = ["eval", "--pred", str(pred), "--real", str(real), "--metrics", "l1,psnr"]
    case.arguments += ["--json", str(out / "r.json")]
    case.outputs.add("r.json")


def bench_case(corpus: Corpus, inputs: Path, out: Path, rng: random.Random, case: Case) -> None:
    presets = rng.choice(["", " , ", ",,", "bogus", "tiny;x", "\x00"])
    sources = rng.choice(["", "0", "-1", "a", "1,a", "1e9"])
    case.changes.append(f"--presets {presets!r} --sources {sources!r}")
    case.arguments = ["bench", "--presets", presets, "--sources", sources, "--no-end-to-end"]


KINDS: dict[str, tuple[Callable[..., None], int]] = {  # kind -> (maker, weight)
    "animate": (animate_case, 10),
    "preprocess": (preprocess_case, 2),
    "train": (train_case, 3),
    "resume": (resume_case, 2),
    "live": (live_case, 2),
    "eval": (eval_case, 1),
    "bench": (bench_case, 1),
}


def make_case(corpus: Corpus, folder: Path, seed: int, number: int) -> Case:
    """Write case `number` of `seed` into `folder` (in/ and out/) and return it."""
    rng = random.Random(f"{seed}-{number}")
    kind = rng.choices(list(KINDS), weights=[weight for _, weight in KINDS.values()])[0]
    case = Case(seed, number, kind)
    (folder / "in").mkdir(parents=True)
    (folder / "out").mkdir()
    KINDS[kind][0](corpus, folder / "in", folder / "out", rng, case)
    return case
