"""Option types and parsers shared by several commands, defined once."""

from __future__ import annotations

from enum import Enum

from tiwcli.errors import InputError


class DeviceChoice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class LandmarkBackend(str, Enum):
    auto = "auto"
    dlib = "dlib"
    fan = "fan"


def parse_int_list(text: str, option: str) -> tuple[int, ...]:
    """'1,3,2' -> (1, 2, 3): sorted, unique, positive whole numbers; else a one-line error."""
    try:
        values = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise InputError(f"{option}: expected whole numbers separated by commas, got {text!r}") from None
    if not values or min(values) < 1:
        raise InputError(f"{option}: expected positive whole numbers, got {text!r}")
    return values
