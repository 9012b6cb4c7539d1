"""Option types and blocks shared by several commands, defined once.

The enums are derived from the `Literal`s of `tiwcli.choices` (the library validates the same
values); the `Annotated` blocks are the options that mean the same in every command. Renamed
flags keep their old spelling as a hidden option for one release (`ALIASES`, `aliased`).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional, TypeVar, get_args

import typer

from tiwcli.choices import (
    DEVICES,
    MAX_BATCH_SIZE,
    MAX_MOUTH_SCALE,
    AudioFrom,
    Engine,
    FaceBackend,
    Knob,
    MotionControl,
    MotionMode,
    MouthInterior,
    MouthReference,
    PerceptualNetwork,
    Precision,
    SourceMouth,
    choices,
)
from tiwcli.errors import InputError


def choice_enum(name: str, kind: object) -> type[Enum]:
    """A `str` Enum with one member per value of a Literal (what Typer shows and checks)."""
    return Enum(name, {value.replace("-", "_"): value for value in choices(kind)}, type=str)  # type: ignore[return-value]


FaceBackendChoice = choice_enum("FaceBackendChoice", FaceBackend)
MotionModeChoice = choice_enum("MotionModeChoice", MotionMode)
MotionControlChoice = choice_enum("MotionControlChoice", MotionControl)
MouthReferenceChoice = choice_enum("MouthReferenceChoice", MouthReference)
MouthInteriorChoice = choice_enum("MouthInteriorChoice", MouthInterior)
SourceMouthChoice = choice_enum("SourceMouthChoice", SourceMouth)
EngineChoice = choice_enum("EngineChoice", Engine)
PrecisionChoice = choice_enum("PrecisionChoice", Precision)
PerceptualNetworkChoice = choice_enum("PerceptualNetworkChoice", PerceptualNetwork)
KnobChoice = choice_enum("KnobChoice", Knob)
AudioChoice = choice_enum("AudioChoice", AudioFrom)

OptionalInt = Optional[int]  # noqa: UP045 (typer needs Optional on Python 3.10)
OptionalFloat = Optional[float]  # noqa: UP045
OptionalPath = Optional[Path]  # noqa: UP045
OptionalBool = Optional[bool]  # noqa: UP045
OptionalStr = Optional[str]  # noqa: UP045

# old spelling -> new spelling, per command (each old one is a hidden option for one release)
ALIASES: dict[str, dict[str, str]] = {
    "animate": {"--num-sources": "--sources-from-video", "--landmarks": "--face-backend"},
    "live": {"--landmarks": "--face-backend"},
    "preprocess": {"--backend": "--face-backend"},
    "eval": {"--num-sources": "--sources"},
    "train": {"--max-sources": "--sources"},
}

T = TypeVar("T")


def aliased(value: T, old_value: T | None) -> T:
    """The value of an option, or of its hidden old spelling when that one was given."""
    return value if old_value is None else old_value


def hidden(old: str, **checks: object) -> object:
    """The Typer option of an old spelling: hidden from --help, same checks as the new one."""
    return typer.Option(old, hidden=True, show_default=False, **checks)  # type: ignore[arg-type]


Weights = Annotated[
    OptionalPath,
    typer.Option(
        help="Model checkpoint (.safetensors), or a shipped one by name: landmark (the default) or "
        "fast (the distilled fast preset); default: the shipped weights, or $TIW_WEIGHTS."
    ),
]
Device = Annotated[str, typer.Option(help=f"Where the model runs: {DEVICES}.")]
PrecisionOption = Annotated[
    PrecisionChoice,  # type: ignore[valid-type]
    typer.Option(
        help="Autocast dtype of the model: auto (bf16 on CUDA, fp32 on the CPU), bf16 (on a CPU, fast "
        "only with bf16 instructions, e.g. AVX512-BF16 or AMX), fp16 (CUDA only) or fp32."
    ),
]
FaceBackendOption = Annotated[
    FaceBackendChoice,  # type: ignore[valid-type]
    typer.Option("--face-backend", help="Face detector and landmarks (auto: fan if installed, else dlib)."),
]
FaceBackendOld = Optional[FaceBackendChoice]  # type: ignore[valid-type]  # noqa: UP045
BatchSize = Annotated[
    int,
    typer.Option(min=1, max=MAX_BATCH_SIZE, help=f"Driving frames per model call (1 to {MAX_BATCH_SIZE})."),
]
AutoBatchSize = Annotated[
    OptionalInt,
    typer.Option(
        min=1,
        max=MAX_BATCH_SIZE,
        help=f"Driving frames per model call (1 to {MAX_BATCH_SIZE}; default: 8 on a GPU, 2 on a CPU, "
        "where small batches stay in the caches and run faster).",
    ),
]
Threads = Annotated[
    OptionalInt, typer.Option(min=1, help="torch threads for the model (default: torch's, one per core).")
]
Crop = Annotated[
    bool,
    typer.Option(
        help="Find and crop the face in sources and driving frames. --no-crop: inputs are "
        "already square face crops (resized to the model size)."
    ),
]
PasteBack = Annotated[
    OptionalBool,
    typer.Option(
        "--paste-back/--no-paste-back",
        help="Paste the animated face back into the full source photo (default: on for one "
        "source photo larger than the crop).",
        show_default=False,
    ),
]
DetectEvery = Annotated[
    int,
    typer.Option(
        min=1,
        help="Run the face detector every K driving frames (and when tracking fails); the "
        "landmarks follow the face in between. 1: detect in every frame (slow).",
    ),
]
Motion = Annotated[
    MotionControlChoice,  # type: ignore[valid-type]
    typer.Option(
        "--motion",
        help="What of the driver's motion is used: both, expression (the source keeps its head "
        "pose) or pose (the source keeps its expression). Needs the landmark weights (the default).",
    ),
]
ExpressionScale = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=3.0,
        help="How much of the driver's expression: 0 the source's own, 1 as driven, more exaggerates.",
    ),
]
Eyes = Annotated[
    bool, typer.Option("--eyes/--no-eyes", help="--no-eyes: the source's eyes stay as they are.")
]
Mouth = Annotated[
    bool,
    typer.Option("--mouth/--no-mouth", help="--no-mouth: the source's mouth (lips, jaw) stays as it is."),
]
EngineOption = Annotated[
    EngineChoice,  # type: ignore[valid-type]
    typer.Option(
        help="What runs the model: torch, or onnx (ONNX Runtime on the CPU, fp32; --weights a file from "
        "`tiw export`, or a .safetensors file exported once into ~/.cache/tiw; needs tiw's onnx extra)."
    ),
]
MouthInteriorOption = Annotated[
    MouthInteriorChoice,  # type: ignore[valid-type]
    typer.Option(
        help="Landmark weights: where the driver's mouth opens wider than the source's, driver (the "
        "default) paints the driver's teeth and mouth interior in (colour-matched); warp leaves the "
        "source's lips stretched over the opening."
    ),
]
SourceMouthOption = Annotated[
    SourceMouthChoice,  # type: ignore[valid-type]
    typer.Option(
        help="Relative mode, landmark weights: closed closes the (first) source's mouth before the "
        "driver's opening is added, so a portrait with parted lips opens as far as the driver and "
        "closes when the driver does; as-is adds the driver's opening to the source's own."
    ),
]
MouthScale = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=MAX_MOUTH_SCALE,
        help="Relative mode, landmark weights: how far the mouth opens for the driver's opening, "
        "1 as far as the driver's landmarks, more opens it wider (the output's lips read as "
        "opening less than the landmarks ask).",
    ),
]
Progress = Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")]


def motion_controls(motion: Enum, expression_scale: float, eyes: bool, mouth: bool) -> object:
    """The library's `MotionControls` from the four options above."""
    from tiwcli.inference.motion_controls import MotionControls

    return MotionControls(motion.value, expression_scale, eyes, mouth)


def parse_engine_list(text: str) -> tuple[str, ...]:
    """'torch,onnx' -> ('torch', 'onnx'): the engines to compare (`tiw bench --engine`), in the
    order given, each once; else a one-line error naming the choices."""
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    known = get_args(Engine)
    unknown = [name for name in names if name not in known]
    if not names or unknown:
        raise InputError(f"--engine: expected {', '.join(known)} separated by commas, got {text!r}")
    return names


def parse_int_list(text: str, option: str) -> tuple[int, ...]:
    """'1,3,2' -> (1, 2, 3): sorted, unique, positive whole numbers; else a one-line error."""
    try:
        values = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise InputError(f"{option}: expected whole numbers separated by commas, got {text!r}") from None
    if not values or min(values) < 1:
        raise InputError(f"{option}: expected positive whole numbers, got {text!r}")
    return values
