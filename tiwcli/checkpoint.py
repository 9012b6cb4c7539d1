"""Checkpoints: safetensors only (nothing is ever unpickled), config in the metadata.

A model file holds the state dict as tensors and, in its string metadata,
`format` (= "tiw-model-v1"), `config` (the ModelConfig as JSON) and free-form
entries such as the training step. Loading is strict: a missing, unexpected or
mis-shaped tensor is an error, and so are poisoned weights: NaN or infinite values
(what a diverged run writes) and integer tensors where the model has floats (a bad
conversion); old key names are remapped in one place (`_remap_legacy_keys`). Writes
go to a temporary sibling and are renamed into place, so a crash never leaves a
truncated checkpoint.

The shipped weights are `weights/*.safetensors` in the repository, copied into the
package (`tiwcli/weights/`) when a wheel is built (see setup.py), so both a source
checkout and a `pip install .` find them.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from tiwcli import __version__
from tiwcli.config import ModelConfig
from tiwcli.errors import InputError, MissingWeightsError, TiwError
from tiwcli.io.files import missing_reason, write_error
from tiwcli.models.implicit_warping import ImplicitWarping

MODEL_FORMAT = "tiw-model-v1"
DEFAULT_WEIGHTS_NAME = "tiw-landmark-256.safetensors"
# shipped files a user may name instead of giving a path (`--weights fast`)
SHIPPED_NAMES = {"landmark": DEFAULT_WEIGHTS_NAME, "fast": "tiw-fast-256.safetensors"}
WEIGHTS_ENV = "TIW_WEIGHTS"  # overrides the shipped default


def shipped_weights_dirs() -> list[Path]:
    """Where the shipped weights can be: inside the installed package, or `weights/` of a source
    checkout (the folder holding pyproject.toml next to the package)."""
    package = Path(__file__).resolve().parent
    folders = [package / "weights"]
    if (package.parent / "pyproject.toml").is_file():
        folders.append(package.parent / "weights")
    return folders


def default_weights_path() -> Path:
    """$TIW_WEIGHTS, else the shipped checkpoint: DEFAULT_WEIGHTS_NAME, or the only
    `*.safetensors` file of the weights folder (a renamed release still works)."""
    if os.environ.get(WEIGHTS_ENV):
        return Path(os.environ[WEIGHTS_ENV])
    folders = shipped_weights_dirs()
    default = _shipped(DEFAULT_WEIGHTS_NAME)
    if default is not None:
        return default
    for folder in folders:
        candidates = sorted(folder.glob("*.safetensors"))
        if len(candidates) == 1:
            return candidates[0]
    return folders[-1] / DEFAULT_WEIGHTS_NAME  # absent: the error names where it was expected


def _shipped(name: str) -> Path | None:
    """The shipped weights file `name` in the first weights folder that has it, else None."""
    for folder in shipped_weights_dirs():
        if (folder / name).is_file():
            return folder / name
    return None


def shipped_file(name: str) -> Path:
    """The shipped weights file `name`, wherever the weights folder is; a one-line error if absent."""
    path = _shipped(name)
    if path is None:
        raise MissingWeightsError(f"no shipped weights file {name} in {shipped_weights_dirs()[-1]}")
    return path


def resolve_weights(weights: Path | None = None) -> Path:
    """The weights file to load: `weights`, else $TIW_WEIGHTS or the shipped default; a missing
    file is a one-line MissingWeightsError saying what to do (animate, live, eval alike)."""
    path = weights if weights is not None else default_weights_path()
    if path.is_file():
        return path
    if weights is not None and str(weights) in SHIPPED_NAMES:
        return shipped_file(SHIPPED_NAMES[str(weights)])
    if weights is not None:
        reason = missing_reason(path, "")
        if reason:  # a symlink loop or a broken link: the file is there, but wrong
            raise InputError(f"{path}: {reason}")
        raise MissingWeightsError(f"{path}: no such weights file")
    if os.environ.get(WEIGHTS_ENV):
        raise MissingWeightsError(
            f"${WEIGHTS_ENV} names {path}, which does not exist: fix it or pass --weights"
        )
    raise MissingWeightsError(
        f"no model weights at {path} (the shipped default): pass --weights FILE or set ${WEIGHTS_ENV}"
    )


def save_tensors(path: Path | str, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Atomically write tensors + string metadata as one safetensors file."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    contiguous = {name: tensor.detach().contiguous().cpu() for name, tensor in tensors.items()}
    try:
        save_file(contiguous, str(temporary), metadata=metadata)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except (OSError, SafetensorError) as error:  # a full disk, a folder that went read-only...
        raise write_error(path, error) from None
    finally:
        temporary.unlink(missing_ok=True)


def load_tensors(path: Path | str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a safetensors file -> (tensors on CPU, metadata); clear errors for bad files."""
    path = Path(path)
    if not path.exists():
        raise MissingWeightsError(f"{path}: no such checkpoint file")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as reader:
            metadata = dict(reader.metadata() or {})
            tensors = {name: reader.get_tensor(name) for name in reader.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        reason = str(error).splitlines()[0] if str(error) else error.__class__.__name__
        raise InputError(f"{path}: not a valid safetensors file, truncated or corrupt ({reason})") from None
    return tensors, metadata


def save_model(path: Path | str, model: ImplicitWarping, metadata: dict[str, str] | None = None) -> None:
    """Write a model checkpoint loadable by `load_model` (and so by `tiw animate --weights`)."""
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    header = {"format": MODEL_FORMAT, "config": model.config.to_json(), "tiw_version": __version__}
    header.update(metadata or {})
    save_tensors(path, dict(model.state_dict()), header)


def read_model_file(path: Path | str) -> tuple[ModelConfig, dict[str, torch.Tensor], dict[str, str]]:
    """A checkpoint's config, tensors and metadata, validated but not yet loaded into a model."""
    tensors, metadata = load_tensors(path)
    if metadata.get("format") != MODEL_FORMAT:
        raise InputError(f"{path}: not a tiw model checkpoint (format {metadata.get('format')!r})")
    try:
        config = ModelConfig.from_json(metadata["config"])
    except (KeyError, json.JSONDecodeError, TypeError, AttributeError, ValueError) as error:
        raise InputError(f"{path}: checkpoint config is missing or malformed ({error})") from None
    except InputError as error:  # a value out of range: feature_size 0, num_keypoints -5...
        raise InputError(f"{path}: checkpoint config: {error}") from None
    check_weights(path, tensors)  # NaN/inf here; dtypes against the model where one is built
    return config, _remap_legacy_keys(tensors), metadata


def load_model(path: Path | str, device: torch.device | str = "cpu") -> ImplicitWarping:
    """Rebuild the model from a checkpoint, strictly, in eval mode on `device`."""
    config, tensors, _ = read_model_file(path)
    with torch.device("meta"):  # shapes and dtypes only: nothing is allocated before they match
        expected = ImplicitWarping(config).state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise InputError(
            f"{path}: checkpoint does not match its config: {len(missing)} missing tensors "
            f"({', '.join(missing[:3])}), {len(unexpected)} unexpected ({', '.join(unexpected[:3])})"
        )
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise InputError(
                f"{path}: tensor {name} has shape {tuple(tensor.shape)}, "
                f"expected {tuple(expected[name].shape)}"
            )
    check_weights(path, tensors, expected)
    model = ImplicitWarping(config)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:  # defensive: anything the checks above missed
        raise TiwError(f"{path}: could not load weights ({str(error).splitlines()[0]})") from None
    return model.to(device).eval()


def check_weights(
    path: Path | str, tensors: dict[str, torch.Tensor], expected: dict[str, torch.Tensor] | None = None
) -> None:
    """Refuse poisoned weights: a tensor that is not floating point where `expected` (the model's
    own state dict) has floats, or any floating tensor with NaN or infinite values."""
    for name, tensor in tensors.items():
        wanted = expected.get(name) if expected is not None else None
        if wanted is not None and wanted.is_floating_point() and not tensor.is_floating_point():
            raise InputError(
                f"{path}: tensor {name} is {str(tensor.dtype).removeprefix('torch.')}, not floating point: "
                "these are not usable weights (a broken conversion?)"
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise InputError(
                f"{path}: tensor {name} holds {bad} NaN or infinite values: the run that wrote it "
                "diverged; use an earlier checkpoint"
            )


def load_torch_weights(path: Path, what: str) -> dict[str, torch.Tensor]:
    """A third-party `.pth` state dict (torchvision's VGG-19 or AlexNet, LPIPS's heads), read with
    `weights_only=True` so that nothing in it runs. A pickle of anything else, random bytes or a
    truncated download is a one-line InputError (torch's own message advises weights_only=False)."""
    try:
        with warnings.catch_warnings():  # torch's notes on odd pickles: the error below says it
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (
        pickle.UnpicklingError, RuntimeError, OSError, ValueError, EOFError, KeyError,
        AttributeError, TypeError, IndexError, UnicodeDecodeError, zipfile.BadZipFile,
    ) as error:  # fmt: skip
        raise InputError(
            f"{path}: not a readable {what} file, truncated, corrupt or not plain tensors "
            f"({error.__class__.__name__}); delete it and download it again"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(name, str) and isinstance(tensor, torch.Tensor) for name, tensor in state.items()
    ):
        raise InputError(f"{path}: not a {what} file (it holds no named tensors)")
    return state


def _remap_legacy_keys(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The one place that renames keys of older checkpoint layouts (none yet for v1)."""
    renames: dict[str, str] = {}
    return {renames.get(name, name): tensor for name, tensor in tensors.items()}
