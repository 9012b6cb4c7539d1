"""What runs the model (issue 25): torch on the weights file, or ONNX Runtime on an export of it.

`--engine onnx` takes a file written by `tiw export` as it is; given a .safetensors file (the
shipped weights, say), it exports it once into tiw's cache (`tiwcli.paths.tiw_cache`, named by the
file's content hash, any number of sources) and runs that. The ONNX engine stands in for the torch
model wherever `Animator` takes one (`tiwcli.inference.onnx_engine`); it runs on the CPU, in fp32.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from tiwcli.choices import Engine, check_choice
from tiwcli.errors import InputError

if TYPE_CHECKING:
    from tiwcli.inference.onnx_engine import OnnxEngine
    from tiwcli.models import ImplicitWarping

ONNX_SUFFIX = ".onnx"


def check_engine(engine: Engine, device: str, precision: str) -> None:
    """One-line errors for what the ONNX engine cannot do, before any work (`load_engine` checks the
    engine's name and the weights file's kind)."""
    if engine == "onnx":
        if device.startswith("cuda"):
            raise InputError("--engine onnx runs on the CPU: use --device cpu (or auto), or --engine torch")
        if precision not in ("auto", "fp32"):
            raise InputError(
                f"--engine onnx runs in fp32: drop --precision {precision}, or use --engine torch"
            )


def load_engine(weights: Path, engine: Engine, threads: int | None = None) -> ImplicitWarping | OnnxEngine:
    """The model as `engine` runs it: torch's from a .safetensors file, or ONNX Runtime's from an
    ONNX file or the cached export of a .safetensors file. `threads`: ONNX Runtime's intra-op threads
    (None: its default); torch's are set by the caller."""
    check_choice(engine, Engine, "engine")
    if engine == "torch":
        from tiwcli.checkpoint import load_model

        if weights.suffix.lower() == ONNX_SUFFIX:
            raise InputError(f"{weights}: an ONNX file runs with --engine onnx")
        return load_model(weights)
    from tiwcli.inference.onnx_engine import OnnxEngine, SessionConfig
    from tiwcli.inference.onnx_export import require_onnx

    is_onnx_file = weights.suffix.lower() == ONNX_SUFFIX
    require_onnx(runtime_only=is_onnx_file)
    path = weights if is_onnx_file else cached_export(weights)
    return OnnxEngine(path, SessionConfig(threads=threads or 0))


def cached_export(weights: Path, cache: Path | None = None) -> Path:
    """The ONNX export of `weights` in tiw's cache, written the first time (under a minute on a CPU)."""
    from tiwcli.paths import tiw_cache

    folder = cache or tiw_cache() / "onnx"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    path = folder / f"{weights.stem}-{digest}{ONNX_SUFFIX}"
    if path.is_file():
        return path
    from tiwcli.checkpoint import load_model
    from tiwcli.console import make_console
    from tiwcli.inference.onnx_export import export_onnx

    model = load_model(weights)
    make_console(stderr=True).print(f"[dim]exporting {weights.name} to ONNX once, into {path}[/]")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"{folder}: cannot create the ONNX cache ({error.strerror}); set $TIW_CACHE"
        ) from None
    export_onnx(model, path, None, overwrite=True)
    return path
