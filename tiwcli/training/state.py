"""Training checkpoints without pickle: optimiser states and RNGs as tensors + JSON.

A checkpoint of step S is two safetensors files in RUN_DIR/checkpoints/:
- `step_SSSSSSSS.safetensors`: the generator, written by `save_model` (so
  `tiw animate --weights` reads it),
- `step_SSSSSSSS.state.safetensors`: everything else needed to continue exactly:
  discriminator weights and buffers, both Adam states (tensors flattened to
  `optimizer.<name>.<param index>.<field>`, the rest as JSON), RNG states, step.
The state file is written second, so its presence marks a complete checkpoint.
Both writes are atomic (temporary file + rename).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tiwcli.checkpoint import check_weights, load_tensors, save_model, save_tensors
from tiwcli.errors import InputError, TiwError

STATE_FORMAT = "tiw-train-state-v1"
_STATE_NAME = re.compile(r"^step_(\d{8})\.state\.safetensors$")


def checkpoint_paths(checkpoint_dir: Path, step: int) -> tuple[Path, Path]:
    """(model file, state file) of one step."""
    stem = f"step_{step:08d}"
    return checkpoint_dir / f"{stem}.safetensors", checkpoint_dir / f"{stem}.state.safetensors"


def completed_steps(checkpoint_dir: Path) -> list[int]:
    """Steps with a complete checkpoint (both files), oldest first."""
    if not checkpoint_dir.is_dir():
        return []
    steps = []
    for path in checkpoint_dir.iterdir():
        match = _STATE_NAME.match(path.name)
        if match and checkpoint_paths(checkpoint_dir, int(match.group(1)))[0].exists():
            steps.append(int(match.group(1)))
    return sorted(steps)


# -- optimisers -------------------------------------------------------------------


def flatten_optimizer(
    name: str, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimiser's state_dict -> (tensors, JSON-able structure)."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in state_dict["state"].items():
        for field, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{name}.{index}.{field}"] = value
            else:
                scalars.setdefault(str(index), {})[field] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def unflatten_optimizer(
    name: str, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], structure: dict[str, Any]
) -> None:
    prefix = f"optimizer.{name}."
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix):
            index, field = key[len(prefix) :].split(".", 1)
            state.setdefault(int(index), {})[field] = value
    for index, fields in structure["scalars"].items():
        state.setdefault(int(index), {}).update(fields)
    groups = [
        {key: tuple(value) if key == "betas" else value for key, value in group.items()}
        for group in structure["param_groups"]
    ]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


# -- random number generators ---------------------------------------------------------


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    version, python_state, gauss = random.getstate()
    kind, numpy_keys, position, has_gauss, cached = np.random.get_state()
    tensors = {"rng.torch": torch.get_rng_state(), "rng.numpy": torch.from_numpy(numpy_keys.astype(np.int64))}
    if torch.cuda.is_available():
        for index, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{index}"] = cuda_state
    structure = {
        "python": [version, list(python_state), gauss],
        "numpy": [kind, int(position), int(has_gauss), float(cached)],
    }
    return tensors, structure


def set_rng_state(tensors: dict[str, torch.Tensor], structure: dict[str, Any]) -> None:
    version, python_state, gauss = structure["python"]
    random.setstate((version, tuple(python_state), gauss))
    kind, position, has_gauss, cached = structure["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[key] for key in sorted(tensors) if key.startswith("rng.cuda.")]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)


# -- whole checkpoints ------------------------------------------------------------------


@dataclass
class TrainingParts:
    """What a checkpoint saves and restores (the unwrapped modules, not DDP wrappers)."""

    model: nn.Module
    discriminator: nn.Module | None
    optimizers: dict[str, torch.optim.Optimizer]


def save_checkpoint(checkpoint_dir: Path, step: int, parts: TrainingParts, metadata: dict[str, str]) -> Path:
    """Write the two files of step `step`; returns the model file. Weights with NaN or infinite
    values (a diverged run) are refused before anything is written, so the newest checkpoints on
    disk, which pruning keeps, stay usable."""
    diverged = [
        name
        for name, tensor in parts.model.state_dict().items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]
    if diverged:
        raise TiwError(
            f"step {step}: training diverged ({len(diverged)} weight tensors hold NaN or infinite values, "
            f"e.g. {diverged[0]}); no checkpoint written, the earlier ones are kept"
        )
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    model_path, state_path = checkpoint_paths(checkpoint_dir, step)
    save_model(model_path, parts.model, {**metadata, "step": str(step)})
    tensors, rng_structure = rng_state()
    optimizers: dict[str, Any] = {}
    for name, optimizer in parts.optimizers.items():
        flat, optimizers[name] = flatten_optimizer(name, optimizer)
        tensors.update(flat)
    if parts.discriminator is not None:
        tensors.update(
            {f"discriminator.{key}": value for key, value in parts.discriminator.state_dict().items()}
        )
    header = {
        **metadata,
        "format": STATE_FORMAT,
        "step": str(step),
        "data_position": str(step),  # batch i is a function of (seed, i, rank): the next batch is `step`
        "optimizers": json.dumps(optimizers),
        "rng": json.dumps(rng_structure),
    }
    save_tensors(state_path, tensors, header)
    return model_path


def load_checkpoint(checkpoint_dir: Path, step: int, parts: TrainingParts) -> dict[str, str]:
    """Restore `parts` from the checkpoint of `step` (strict); returns the state metadata."""
    from tiwcli.checkpoint import read_model_file

    model_path, state_path = checkpoint_paths(checkpoint_dir, step)
    _, model_tensors, _ = read_model_file(model_path)
    check_weights(model_path, model_tensors, dict(parts.model.state_dict()))
    tensors, metadata = load_tensors(state_path)
    if metadata.get("format") != STATE_FORMAT:
        raise InputError(f"{state_path}: not a tiw training state (format {metadata.get('format')!r})")
    if parts.discriminator is not None:
        own = {f"discriminator.{key}": value for key, value in parts.discriminator.state_dict().items()}
        check_weights(state_path, {key: value for key, value in tensors.items() if key in own}, own)
    check_weights(state_path, {key: value for key, value in tensors.items() if key.startswith("optimizer.")})
    try:
        parts.model.load_state_dict(model_tensors, strict=True)
        if parts.discriminator is not None:
            prefix = "discriminator."
            own = {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}
            parts.discriminator.load_state_dict(own, strict=True)
        optimizers = json.loads(metadata["optimizers"])
        for name, optimizer in parts.optimizers.items():
            unflatten_optimizer(name, optimizer, tensors, optimizers[name])
        set_rng_state(tensors, json.loads(metadata["rng"]))
    except (RuntimeError, KeyError, ValueError) as error:
        raise TiwError(
            f"{state_path}: does not match this run ({str(error).splitlines()[0][:200]}); "
            "was it written with other options?"
        ) from None
    return metadata


def load_newest_checkpoint(
    checkpoint_dir: Path, parts: TrainingParts, note: Callable[[str], None] | None = None
) -> int:
    """Restore `parts` from the newest checkpoint that can be read, and return its step.

    A newest checkpoint that cannot be read (a file truncated by a full disk or a copy cut short,
    bit rot) is set aside as `*.unreadable`, so pruning and later resumes skip it, and the previous
    one is used, with a note. Only when none is readable is it an error."""
    steps = completed_steps(checkpoint_dir)
    for position, step in enumerate(reversed(steps)):
        try:
            load_checkpoint(checkpoint_dir, step, parts)
        except InputError as error:  # unreadable, not "written with other options" (TiwError)
            older = steps[: len(steps) - position - 1]
            if not older:
                raise
            _set_aside(checkpoint_dir, step)
            if note is not None:
                note(
                    f"the checkpoint of step {step} cannot be read ({error}); set aside as "
                    f"*.unreadable, going on from step {older[-1]}"
                )
            continue
        return step
    return 0


def _set_aside(checkpoint_dir: Path, step: int) -> None:
    """Rename an unreadable checkpoint's files to NAME.unreadable (kept for a look, not deleted)."""
    for path in checkpoint_paths(checkpoint_dir, step):
        try:
            path.rename(path.with_name(path.name + ".unreadable"))
        except OSError:
            pass  # another process of the run set it aside first


def prune_checkpoints(checkpoint_dir: Path, keep: int) -> None:
    """Delete all but the newest `keep` complete checkpoints (state file first, then model), and
    model files left without their state by a crash mid-checkpoint."""
    complete = completed_steps(checkpoint_dir)
    for step in complete[:-keep] if keep > 0 else []:
        model_path, state_path = checkpoint_paths(checkpoint_dir, step)
        state_path.unlink(missing_ok=True)
        model_path.unlink(missing_ok=True)
    for path in checkpoint_dir.glob("step_*.safetensors"):
        match = re.match(r"^step_(\d{8})\.safetensors$", path.name)
        if match and complete and int(match.group(1)) < complete[-1] and int(match.group(1)) not in complete:
            path.unlink(missing_ok=True)
